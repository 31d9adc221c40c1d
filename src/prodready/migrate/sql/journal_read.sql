SELECT id, name, checksum, status, steps_done, applied_at, duration_ms, last_error, updated_at
FROM {journal}
ORDER BY id
