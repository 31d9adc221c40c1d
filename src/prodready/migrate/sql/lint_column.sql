-- A column's current type, modifier and nullability, to tell a rewriting ALTER COLUMN TYPE
-- from one PostgreSQL can do by relabelling, and a no-op SET NOT NULL from a scanning one.
SELECT /* prodready */
    a.atttypid::bigint AS type_oid,
    t.typname AS type_name,
    a.atttypmod AS typmod,
    format_type(a.atttypid, a.atttypmod) AS display_type,
    a.attnotnull AS not_null
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(%(table)s)
  AND a.attname = %(column)s
  AND a.attnum > 0
  AND NOT a.attisdropped
