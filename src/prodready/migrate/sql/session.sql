-- Can this session change the database? A replica in recovery, or a database whose sessions
-- default to read-only transactions, cannot take migrations.
SELECT pg_is_in_recovery() AS in_recovery,
       current_setting('transaction_read_only') = 'on' AS read_only,
       current_user AS role
