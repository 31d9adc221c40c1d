-- Every journal change is this one upsert. applied_at is set when a migration becomes applied,
-- kept while its rollback is unfinished (it is still applied, or partly), cleared otherwise.
INSERT INTO {journal} AS j
    (id, name, checksum, status, steps_done, applied_at, duration_ms, last_error)
VALUES (
    %(id)s, %(name)s, %(checksum)s, %(status)s, %(steps_done)s,
    CASE WHEN %(status)s::text = 'applied' THEN clock_timestamp() END,
    %(duration_ms)s, %(last_error)s
)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name,
    checksum = excluded.checksum,
    status = excluded.status,
    steps_done = excluded.steps_done,
    applied_at = CASE
        WHEN excluded.status = 'applied' THEN excluded.applied_at
        WHEN excluded.status IN ('rolling_back', 'rollback_failed', 'rollback_interrupted')
            THEN j.applied_at
    END,
    duration_ms = excluded.duration_ms,
    last_error = excluded.last_error,
    updated_at = clock_timestamp(),
    updated_by = current_user
