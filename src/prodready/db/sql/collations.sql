-- Collation names by oid, to name each index column's collation.
SELECT /* prodready */ oid, collname::text AS name FROM pg_collation
