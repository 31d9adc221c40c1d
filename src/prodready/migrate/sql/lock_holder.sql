-- The session holding prodready's advisory lock in this database (two-key form: objsubid 2).
SELECT l.pid
FROM pg_locks AS l
JOIN pg_database AS d ON d.oid = l.database
WHERE l.locktype = 'advisory'
  AND d.datname = current_database()
  AND l.classid::int8 = %(key1)s::int8
  AND l.objid::int8 = %(key2)s::int8
  AND l.objsubid = 2
  AND l.granted
LIMIT 1
