-- The type an ALTER COLUMN TYPE names, and whether the old type converts to it without a
-- function (the same type, or a binary-coercible cast such as varchar -> text): then
-- PostgreSQL relabels the column instead of rewriting the table.
SELECT /* prodready */
    t.oid::bigint AS oid,
    t.typname AS type_name,
    (t.oid = %(old)s::oid OR EXISTS (
        SELECT 1 FROM pg_cast c
        WHERE c.castsource = %(old)s::oid AND c.casttarget = t.oid AND c.castmethod = 'b'
    )) AS binary_coercible
FROM pg_type t
WHERE t.oid = to_regtype(%(type)s)
