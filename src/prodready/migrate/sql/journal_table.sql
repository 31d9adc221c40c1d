-- One row per migration number: what the database holds of that migration right now.
CREATE TABLE {journal} (
    id integer PRIMARY KEY CHECK (id > 0),
    name text NOT NULL,
    checksum text NOT NULL,
    status text NOT NULL CHECK (status IN (
        'running', 'applied', 'failed', 'interrupted',
        'rolling_back', 'rolled_back', 'rollback_failed', 'rollback_interrupted')),
    steps_done integer NOT NULL DEFAULT 0 CHECK (steps_done >= 0),
    applied_at timestamptz,
    duration_ms bigint,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE {journal} IS
    'Migrations applied by prodready apply / rollback; one row per migration number';
COMMENT ON COLUMN {journal}.checksum IS
    'sha256 of the .up.sql and .down.sql files when last run; an edited file is refused';
COMMENT ON COLUMN {journal}.status IS
    'running/applied/failed/interrupted for the up file; rolling_back/rolled_back/'
    'rollback_failed/rollback_interrupted for the down file';
COMMENT ON COLUMN {journal}.steps_done IS
    'statements already run of a non-transactional file (up or down, as status says): '
    'the next run resumes after them';
COMMENT ON COLUMN {journal}.applied_at IS 'when the migration became applied; null when it is not';
