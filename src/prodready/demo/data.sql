-- Marketplace data, generated set-based and deterministically (setseed), sized by placeholders
-- in braces that prodready.demo.data fills with literals. Each "-- step:" section runs as one call, in
-- one session, in order: random() draws are reproducible only in that order.
--
-- Skew, as in a real shop: product popularity is a power law, a few buyers place many orders,
-- big sellers own many products, most orders are delivered and only fresh ones are pending.
-- Rows are written in foreign-key order; the loader also skips the FK triggers for speed.

-- step: setup
SELECT setseed({seed});

-- user number n -> a stable, v4-looking uuid
CREATE FUNCTION pg_temp.user_uuid(n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE
AS $$ SELECT overlay(overlay(md5('user:' || n) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid $$;

-- a uniform number in [0, 1) from a key: for draws whose evaluation order a plan could change
CREATE FUNCTION pg_temp.rand(key text) RETURNS float8
LANGUAGE sql IMMUTABLE
AS $$ SELECT ('x' || left(md5(key), 8))::bit(32)::bigint / 4294967296.0 $$;

-- popularity rank r (0 = best seller) -> product id; a bijection because 104729 is prime
CREATE FUNCTION pg_temp.product_of_rank(r bigint, n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE
AS $$ SELECT 1 + (r * 104729) % n $$;

CREATE TEMP TABLE _names AS
SELECT
    ARRAY['Emma', 'Liam', 'Olivia', 'Noah', 'Ava', 'Lucas', 'Mia', 'Leon', 'Sofia', 'Elias',
          'Hannah', 'Mateo', 'Lea', 'Jonas', 'Clara', 'Paul', 'Ines', 'Hugo', 'Nora', 'Felix',
          'Alice', 'Arthur', 'Julia', 'Louis', 'Marta', 'Tomas', 'Eva', 'Oscar', 'Zoe', 'Adam']
        AS first_names,
    ARRAY['Müller', 'Smith', 'Rossi', 'Dubois', 'García', 'Novak', 'Jansen', 'Berg', 'Silva',
          'Kowalski', 'Weber', 'Brown', 'Romano', 'Martin', 'López', 'Horvat', 'Visser', 'Lund',
          'Costa', 'Nowak', 'Fischer', 'Taylor', 'Ricci', 'Bernard', 'Moreno', 'Kovač', 'Bakker',
          'Dahl', 'Santos', 'Wójcik'] AS last_names,
    ARRAY['Berlin', 'Paris', 'Milan', 'Madrid', 'Vienna', 'Amsterdam', 'Lisbon', 'Prague',
          'Warsaw', 'Copenhagen', 'Lyon', 'Munich', 'Rotterdam', 'Porto', 'Zagreb', 'Gdańsk']
        AS cities,
    ARRAY['DE', 'FR', 'IT', 'ES', 'AT', 'NL', 'PT', 'CZ', 'PL', 'DK', 'FR', 'DE', 'NL', 'PT',
          'HR', 'PL'] AS countries,
    ARRAY['Handmade', 'Vintage', 'Organic', 'Minimalist', 'Classic', 'Premium', 'Eco-Friendly',
          'Rustic', 'Modern', 'Compact', 'Artisan', 'Limited Edition', 'Waterproof', 'Recycled',
          'Personalised', 'Nordic', 'Retro', 'Deluxe', 'Lightweight', 'Hand-Painted']
        AS adjectives,
    ARRAY['Oak', 'Walnut', 'Linen', 'Cotton', 'Leather', 'Ceramic', 'Bamboo', 'Steel', 'Black',
          'Sage Green', 'Terracotta', 'Navy'] AS materials,
    -- six nouns per top-level category, in category order
    ARRAY['Headphones', 'Bluetooth Speaker', 'Phone Case', 'USB-C Charger', 'Mechanical Keyboard',
          'Desk Lamp',
          'Cutting Board', 'Coffee Mug', 'Throw Pillow', 'Vase', 'Chef Knife', 'Tea Towel',
          'Tote Bag', 'Scarf', 'Wallet', 'Denim Jacket', 'Sneakers', 'Beanie',
          'Cookbook', 'Notebook', 'Poster Print', 'Comic Book', 'Travel Guide', 'Sketchbook',
          'Yoga Mat', 'Water Bottle', 'Backpack', 'Camping Lantern', 'Cycling Jersey',
          'Hiking Socks',
          'Board Game', 'Jigsaw Puzzle', 'Plush Bear', 'Wooden Train', 'Building Blocks',
          'Card Game',
          'Face Serum', 'Soap Bar', 'Lip Balm', 'Scented Candle', 'Bath Salts', 'Hair Oil',
          'Planter', 'Watering Can', 'Seed Kit', 'Bird Feeder', 'Garden Gloves', 'Pruning Shears',
          'Paint Set', 'Brush Set', 'Yarn Bundle', 'Embroidery Kit', 'Clay Kit', 'Canvas',
          'Film Camera', 'Vinyl Record', 'Brass Clock', 'Typewriter', 'Tin Sign', 'Postcard Set']
        AS nouns,
    ARRAY['Nordic', 'Urban', 'Little', 'Golden', 'Wild', 'Quiet', 'Blue', 'Old Town', 'Maple',
          'Copper', 'Sunny', 'North Star'] AS shop_words,
    ARRAY['Workshop', 'Studio', 'Goods', 'Trading', 'Supply', 'Corner', 'House', 'Market',
          'Atelier', 'Collective'] AS shop_kinds;

-- step: users
INSERT INTO public.users (
    id, email, display_name, avatar_url, password_hash, api_token, role,
    created_at, updated_at, last_sign_in_at, deleted_at
)
SELECT
    pg_temp.user_uuid(u.g),
    translate(lower(u.first || '.' || u.last), 'üíóč', 'uioc') || u.g
        || '@example.com',
    u.first || ' ' || left(u.last, 1) || '.',
    CASE WHEN u.r_avatar < 0.6
        THEN 'https://cdn.marketplace.example/avatars/' || md5('avatar:' || u.g) || '.jpg' END,
    '$2b$10$' || left(md5('salt:' || u.g) || md5('hash:' || u.g), 53),
    CASE WHEN u.r_token < 0.3 THEN 'mk_live_' || md5('token:' || u.g) END,
    CASE WHEN u.g <= 5 THEN 'admin' ELSE 'user' END,
    u.created_at,
    u.created_at,
    u.created_at + (now() - u.created_at) * (1 - power(u.r_seen, 3)),
    CASE WHEN u.r_deleted < 0.01 THEN now() - u.r_deleted * interval '9000 days' END
FROM (
    SELECT
        s.*,
        n.first_names[1 + floor(s.r_first * 30)::int] AS first,
        n.last_names[1 + floor(s.r_last * 30)::int] AS last,
        now() - power(s.r_age, 1.3) * interval '900 days' AS created_at
    FROM (
        SELECT g, random() AS r_first, random() AS r_last, random() AS r_avatar,
               random() AS r_token, random() AS r_age, random() AS r_seen, random() AS r_deleted
        FROM generate_series(1, {n_users}) AS g
        OFFSET 0
    ) s
    CROSS JOIN _names n
) u
ORDER BY u.g;

-- step: sellers
-- Seller s is user number (n_users - s + 1); big sellers (low s) own the most products.
INSERT INTO public.sellers (id, user_id, shop_name, slug, bio, payout_iban, verified, created_at)
SELECT
    s.g,
    pg_temp.user_uuid({n_users} - s.g + 1),
    s.shop_name,
    lower(regexp_replace(s.shop_name, '[^A-Za-z0-9]+', '-', 'g')) || '-' || s.g,
    CASE WHEN s.r_bio < 0.7 THEN 'Small independent shop. Everything is made or picked by hand '
        || 'and shipped with care.' END,
    'DE' || lpad((floor(s.r_iban * 1e18))::bigint::text, 20, '0'),
    s.r_verified < 0.4,
    now() - power(s.r_age, 1.1) * interval '800 days'
FROM (
    SELECT
        g,
        n.shop_words[1 + floor(random() * 12)::int] || ' '
            || n.shop_kinds[1 + floor(random() * 10)::int] AS shop_name,
        random() AS r_bio, random() AS r_iban, random() AS r_verified, random() AS r_age
    FROM generate_series(1, {n_sellers}) AS g
    CROSS JOIN _names n
    OFFSET 0
) s
ORDER BY s.g;

-- step: categories
INSERT INTO public.categories (id, parent_id, name, slug, position)
SELECT id, parent_id, name, lower(regexp_replace(name, '[^A-Za-z0-9]+', '-', 'g')), position
FROM (VALUES
    (1, NULL, 'Electronics', 1), (2, NULL, 'Home & Kitchen', 2), (3, NULL, 'Fashion', 3),
    (4, NULL, 'Books & Paper', 4), (5, NULL, 'Sports & Outdoors', 5),
    (6, NULL, 'Toys & Games', 6), (7, NULL, 'Beauty', 7), (8, NULL, 'Garden', 8),
    (9, NULL, 'Art & Crafts', 9), (10, NULL, 'Vintage', 10),
    (11, 1, 'Audio', 1), (12, 1, 'Phone Accessories', 2), (13, 1, 'Computer Gear', 3),
    (14, 1, 'Smart Lighting', 4),
    (15, 2, 'Kitchenware', 1), (16, 2, 'Tableware', 2), (17, 2, 'Home Decor', 3),
    (18, 2, 'Textiles', 4),
    (19, 3, 'Bags', 1), (20, 3, 'Knitwear', 2), (21, 3, 'Small Leather Goods', 3),
    (22, 3, 'Shoes', 4),
    (23, 4, 'Cookbooks', 1), (24, 4, 'Stationery', 2), (25, 4, 'Prints & Posters', 3),
    (26, 4, 'Comics', 4),
    (27, 5, 'Yoga & Fitness', 1), (28, 5, 'Camping', 2), (29, 5, 'Cycling', 3),
    (30, 5, 'Hiking', 4),
    (31, 6, 'Board Games', 1), (32, 6, 'Puzzles', 2), (33, 6, 'Soft Toys', 3),
    (34, 6, 'Wooden Toys', 4),
    (35, 7, 'Skincare', 1), (36, 7, 'Soap & Bath', 2), (37, 7, 'Candles', 3),
    (38, 7, 'Hair Care', 4),
    (39, 8, 'Planters', 1), (40, 8, 'Garden Tools', 2), (41, 8, 'Seeds', 3),
    (42, 8, 'Bird Care', 4),
    (43, 9, 'Painting', 1), (44, 9, 'Knitting', 2), (45, 9, 'Embroidery', 3),
    (46, 9, 'Pottery', 4),
    (47, 10, 'Cameras', 1), (48, 10, 'Records', 2), (49, 10, 'Clocks', 3),
    (50, 10, 'Collectibles', 4)
) AS c (id, parent_id, name, position)
ORDER BY id;

-- step: products
-- Product g belongs to seller 1 + floor(S * (g/N)^2): seller 1 is the biggest shop.
CREATE TEMP TABLE _pspec AS
SELECT
    s.*,
    (s.category_id - 11) / 4 AS grp,
    now() - power(s.r_age, 1.2) * interval '720 days' AS created_at
FROM (
    SELECT
        g,
        1 + floor({n_sellers} * power((g - 1)::float8 / {n_products}, 2))::int AS seller_id,
        11 + floor(40 * power(random(), 1.4))::int AS category_id,
        random() AS r_adj, random() AS r_mat, random() AS r_noun, random() AS r_price,
        random() AS r_status, random() AS r_age, random() AS r_stock, random() AS r_views,
        random() AS r_handmade, random() AS r_sentence
    FROM generate_series(1, {n_products}) AS g
    OFFSET 0
) s;

INSERT INTO public.products (
    id, seller_id, category_id, sku, name, description, price, stock, status, attributes,
    view_count, created_at, updated_at, deleted_at
)
SELECT
    row_number() OVER (ORDER BY p.created_at, p.g),
    p.seller_id,
    p.category_id,
    'SKU-' || lpad(p.seller_id::text, 5, '0') || '-' || lpad(p.g::text, 7, '0'),
    p.adjective || ' ' || p.material || ' ' || p.noun,
    'A ' || lower(p.adjective) || ' ' || lower(p.noun) || ' in ' || lower(p.material) || '. '
        || (ARRAY['Made in small batches in our workshop.',
                  'Every piece is checked by hand before it ships.',
                  'A thoughtful gift that lasts for years.',
                  'Designed to be used every day, not kept for best.',
                  'Sourced from independent makers across Europe.'])[1 + floor(p.r_sentence * 5)::int]
        || ' Ships within ' || (1 + floor(p.r_stock * 5))::int || ' working days.',
    round((4 + power(p.r_price, 2.5) * 400)::numeric, 0) - 0.01,
    floor(power(p.r_stock, 2) * 200)::int,
    CASE WHEN p.r_status < 0.92 THEN 'active' WHEN p.r_status < 0.96 THEN 'draft'
         ELSE 'archived' END,
    jsonb_build_object(
        'material', p.material,
        'handmade', p.r_handmade < 0.45,
        'weight_g', 50 + floor(p.r_price * 2000)::int,
        'tags', jsonb_build_array(lower(p.adjective), lower(p.noun))
    ),
    floor(power(p.r_views, 3) * 20000)::bigint,
    p.created_at,
    p.created_at + (now() - p.created_at) * p.r_views,
    CASE WHEN p.r_status >= 0.98 THEN p.created_at + (now() - p.created_at) * p.r_stock END
FROM (
    SELECT
        s.*,
        n.adjectives[1 + floor(s.r_adj * 20)::int] AS adjective,
        n.materials[1 + floor(s.r_mat * 12)::int] AS material,
        n.nouns[s.grp * 6 + 1 + floor(s.r_noun * 6)::int] AS noun
    FROM _pspec s
    CROSS JOIN _names n
) p
ORDER BY 1;

-- a seller's products numbered 1..count, to draw the other items of an order from the same shop
CREATE TEMP TABLE _seller_products AS
SELECT seller_id, row_number() OVER (PARTITION BY seller_id ORDER BY id) AS rn, id AS product_id,
       price
FROM public.products;
CREATE TEMP TABLE _seller_counts AS
SELECT seller_id, count(*) AS n FROM _seller_products GROUP BY seller_id;

-- step: orders
-- Buyers: user number 1 + floor(U * r^2), so a few early accounts order very often.
-- An order is placed after its main product appeared, recent orders are the most frequent.
CREATE TEMP TABLE _ospec AS
WITH spec AS MATERIALIZED (
    SELECT
        g,
        1 + floor({n_users} * power(random(), 2))::bigint AS buyer_no,
        pg_temp.product_of_rank(floor({n_products} * power(random(), 3))::bigint, {n_products})
            AS main_product,
        random() AS r_age, random() AS r_status, random() AS r_coupon, random() AS r_city,
        random() AS r_minutes,
        1 + (random() < 0.55)::int + (random() < 0.45)::int + (random() < 0.33)::int AS n_items
    FROM generate_series(1, {n_orders}) AS g
)
SELECT
    s.*,
    p.seller_id,
    p.price AS main_price,
    now() - (now() - p.created_at) * power(s.r_age, 1.6) AS created_at
FROM spec s
JOIN public.products p ON p.id = s.main_product;

CREATE TEMP TABLE _o AS
SELECT
    row_number() OVER (ORDER BY s.created_at, s.g) AS id,
    s.*,
    CASE
        WHEN s.created_at > now() - interval '1 day' THEN
            CASE WHEN s.r_status < 0.45 THEN 'pending' WHEN s.r_status < 0.80 THEN 'paid'
                 ELSE 'shipped' END
        WHEN s.created_at > now() - interval '7 days' THEN
            CASE WHEN s.r_status < 0.10 THEN 'paid' WHEN s.r_status < 0.65 THEN 'shipped'
                 WHEN s.r_status < 0.95 THEN 'delivered' ELSE 'cancelled' END
        ELSE
            CASE WHEN s.r_status < 0.91 THEN 'delivered' WHEN s.r_status < 0.97 THEN 'cancelled'
                 ELSE 'refunded' END
    END AS status
FROM _ospec s;

-- items: the main product, then more from the same shop
CREATE TEMP TABLE _i AS
WITH extra AS MATERIALIZED (
    SELECT o.id AS order_id, o.seller_id, k, random() AS r_pick
    FROM _o o
    CROSS JOIN LATERAL generate_series(2, o.n_items) AS k
),
items AS (
    SELECT o.id AS order_id, 1 AS k, o.main_product AS product_id, o.main_price AS unit_price
    FROM _o o
    UNION ALL
    SELECT e.order_id, e.k, sp.product_id, sp.price
    FROM extra e
    JOIN _seller_counts sc ON sc.seller_id = e.seller_id
    JOIN _seller_products sp
        ON sp.seller_id = e.seller_id AND sp.rn = 1 + floor(e.r_pick * sc.n)::int
)
SELECT
    row_number() OVER (ORDER BY order_id, k) AS id,
    order_id, k, product_id, unit_price,
    1 + (r_qty < 0.12)::int + (r_qty < 0.03)::int AS quantity
FROM (SELECT items.*, pg_temp.rand('qty:' || order_id || ':' || k) AS r_qty FROM items) i;

INSERT INTO public.orders (
    id, buyer_id, seller_id, status, total_amount, shipping_amount, coupon_code,
    shipping_address, created_at, updated_at, paid_at, shipped_at
)
SELECT
    o.id,
    pg_temp.user_uuid(o.buyer_no),
    o.seller_id,
    o.status::public.order_status,
    t.subtotal + CASE WHEN t.subtotal >= 50 THEN 0 ELSE 4.90 END,
    CASE WHEN t.subtotal >= 50 THEN 0 ELSE 4.90 END,
    CASE WHEN o.r_coupon < 0.08
        THEN (ARRAY['WELCOME10', 'SPRING15', 'FREESHIP', 'LOYAL5', 'BLACKFRIDAY'])
             [1 + floor(o.r_coupon / 0.08 * 5)::int] END,
    jsonb_build_object(
        'city', n.cities[1 + floor(o.r_city * 16)::int],
        'country', n.countries[1 + floor(o.r_city * 16)::int],
        'postcode', lpad((floor(o.r_minutes * 99999))::int::text, 5, '0'),
        'line1', (1 + floor(o.r_minutes * 180))::int || ' Market Street'
    ),
    o.created_at,
    o.created_at + CASE WHEN o.status = 'pending' THEN interval '0' ELSE interval '2 days' END,
    CASE WHEN o.status <> 'pending' THEN o.created_at + o.r_minutes * interval '30 minutes' END,
    CASE WHEN o.status IN ('shipped', 'delivered', 'refunded')
        THEN o.created_at + interval '1 day' + o.r_minutes * interval '2 days' END
FROM _o o
JOIN (
    SELECT order_id, sum(quantity * unit_price) AS subtotal FROM _i GROUP BY order_id
) t ON t.order_id = o.id
CROSS JOIN _names n
ORDER BY o.id;

INSERT INTO public.order_items (id, order_id, product_id, quantity, unit_price)
SELECT id, order_id, product_id, quantity, unit_price FROM _i ORDER BY id;

-- step: reviews
-- Buyers review some of the products they received, mostly with five stars.
INSERT INTO public.reviews (user_id, product_id, rating, title, body, created_at)
SELECT
    c.buyer_id,
    c.product_id,
    c.rating,
    (ARRAY['Disappointed', 'Not as described', 'It is okay', 'Very nice', 'Love it!'])[c.rating],
    (ARRAY['Arrived damaged and the seller never answered.',
           'Smaller than in the photos, and the colour is off.',
           'Does the job. Shipping took a while.',
           'Good quality and fast shipping. Would buy again.',
           'Absolutely beautiful, even better than the pictures. Thank you!'])[c.rating],
    c.created_at
FROM (
    SELECT
        d.*,
        CASE WHEN d.r_rating < 0.55 THEN 5 WHEN d.r_rating < 0.80 THEN 4
             WHEN d.r_rating < 0.90 THEN 3 WHEN d.r_rating < 0.95 THEN 2 ELSE 1 END AS rating
    FROM (
        SELECT DISTINCT ON (o.buyer_id, i.product_id)
            o.buyer_id, i.product_id, o.created_at + interval '5 days' AS created_at,
            pg_temp.rand('rating:' || i.id) AS r_rating, i.id AS item_id
        FROM public.order_items i
        JOIN public.orders o ON o.id = i.order_id
        WHERE o.status = 'delivered'
        ORDER BY o.buyer_id, i.product_id, i.id
    ) d
    ORDER BY md5(d.item_id::text)
    LIMIT {n_reviews}
) c
ORDER BY c.created_at;

-- step: favorites
INSERT INTO public.favorites (user_id, product_id, created_at)
SELECT pg_temp.user_uuid(f.user_no), f.product_id, f.created_at
FROM (
    SELECT user_no, product_id, min(created_at) AS created_at, min(g) AS first_g
    FROM (
        SELECT
            g,
            1 + floor({n_users} * power(random(), 1.5))::bigint AS user_no,
            pg_temp.product_of_rank(floor({n_products} * power(random(), 2.5))::bigint,
                                    {n_products}) AS product_id,
            now() - power(random(), 1.5) * interval '600 days' AS created_at
        FROM generate_series(1, {n_favorites} * 5 / 4) AS g
        OFFSET 0
    ) c
    GROUP BY user_no, product_id
    ORDER BY first_g
    LIMIT {n_favorites}
) f
ORDER BY f.created_at;

-- step: messages
-- Conversations hang off orders: mostly buyer to seller, some replies; recent ones unread.
INSERT INTO public.messages (sender_id, recipient_id, product_id, body, created_at, read_at)
SELECT
    CASE WHEN m.from_buyer THEN m.buyer_id ELSE m.seller_user_id END,
    CASE WHEN m.from_buyer THEN m.seller_user_id ELSE m.buyer_id END,
    m.product_id,
    CASE WHEN m.from_buyer
        THEN (ARRAY['Hi! Is this still available?', 'When will my order ship?',
                    'Do you have it in another colour?', 'Could you ship it gift-wrapped?',
                    'Thanks, it arrived today and it is lovely.'])[1 + floor(m.r_body * 5)::int]
        ELSE (ARRAY['Thank you for your order!', 'Your parcel is on its way.',
                    'Yes, I can make one in another colour, it takes a week.',
                    'Sorry for the delay, shipping today.'])[1 + floor(m.r_body * 4)::int]
    END,
    m.sent_at,
    CASE WHEN (m.sent_at < now() - interval '3 days' AND m.r_read >= 0.03)
              OR (m.sent_at >= now() - interval '3 days' AND m.r_read >= 0.6)
        THEN least(now(), m.sent_at + m.r_read * interval '20 hours') END
FROM (
    WITH r AS MATERIALIZED (
        SELECT
            g,
            1 + floor(random() * {n_orders})::bigint AS order_id,
            random() < 0.65 AS from_buyer,
            random() AS r_body, random() AS r_read, random() AS r_delay
        FROM generate_series(1, {n_messages}) AS g
    )
    SELECT
        r.*,
        pg_temp.user_uuid(o.buyer_no) AS buyer_id,
        s.user_id AS seller_user_id,
        o.main_product AS product_id,
        least(now(), o.created_at + r.r_delay * interval '4 days') AS sent_at
    FROM r
    JOIN _o o ON o.id = r.order_id
    JOIN public.sellers s ON s.id = o.seller_id
) m
ORDER BY m.sent_at, m.g;

-- step: audit_log
-- An old table: its 32-bit serial has handed out ~80% of its range (older rows were purged).
INSERT INTO public.coupons (code, percent_off, valid_until, max_redemptions)
VALUES ('WELCOME10', 10, NULL, NULL), ('SPRING15', 15, now() - interval '200 days', 5000),
       ('FREESHIP', 5, NULL, NULL), ('LOYAL5', 5, NULL, NULL),
       ('BLACKFRIDAY', 30, now() - interval '150 days', 20000);

INSERT INTO public.audit_log (id, actor_id, action, entity, entity_id, payload, created_at)
SELECT
    1717000000 + a.g,
    pg_temp.user_uuid(1 + floor({n_users} * power(a.r_actor, 2))::bigint),
    (ARRAY['order.status_changed', 'product.updated', 'user.signed_in', 'payout.requested'])
        [1 + floor(a.r_action * 4)::int],
    (ARRAY['order', 'product', 'user', 'seller'])[1 + floor(a.r_action * 4)::int],
    (1 + floor(a.r_actor * 100000))::int::text,
    jsonb_build_object('ip', '203.0.113.' || (1 + floor(a.r_ip * 254))::int, 'source', 'api'),
    now() - (1 - a.g::float8 / {n_audit}) * interval '90 days'
FROM (
    SELECT g, random() AS r_actor, random() AS r_action, random() AS r_ip
    FROM generate_series(1, {n_audit}) AS g
    OFFSET 0
) a
ORDER BY a.g;

-- step: sequences
SELECT setval(pg_get_serial_sequence('public.' || t, 'id'), m)
FROM (VALUES
    ('sellers', (SELECT max(id) FROM public.sellers)),
    ('categories', (SELECT max(id) FROM public.categories)),
    ('products', (SELECT max(id) FROM public.products)),
    ('orders', (SELECT max(id) FROM public.orders)),
    ('order_items', (SELECT max(id) FROM public.order_items)),
    ('audit_log', (SELECT max(id) FROM public.audit_log))
) AS s (t, m);

DROP TABLE _names, _pspec, _seller_products, _seller_counts, _ospec, _o, _i;

-- step: vacuum
VACUUM (ANALYZE);
