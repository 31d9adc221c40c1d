-- Operator class names by oid, to name each index column's opclass.
SELECT /* prodready */ oid, opcname::text AS name FROM pg_opclass
