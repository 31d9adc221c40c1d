-- Wraparound is cluster-wide: every database's oldest unfrozen xid.
SELECT /* prodready */
    datname AS name,
    age(datfrozenxid) AS frozen_xid_age,
    datallowconn AS allow_connections
FROM pg_database
ORDER BY datname
