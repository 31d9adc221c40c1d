-- A hand-written workload: weights are calls per minute, roles who runs each statement.
-- Blank lines separate the annotation blocks; a comment after a blank line is not one.

-- name: recent_accounts
-- role: web
-- weight: 120
SELECT id, email FROM accounts WHERE status = 'active' ORDER BY created_at DESC LIMIT 20;

-- weight: 30
SELECT id, email FROM accounts WHERE status = 'suspended' ORDER BY created_at DESC LIMIT 20;

-- name: login_events
-- weight: 2.5
SELECT count(*)
  FROM events
 WHERE account_id = 7
   AND kind = 'login;logout';  -- a semicolon inside a string does not split

-- weight: 7

-- role: worker
SELECT $body$ a ; b $body$ AS note, id FROM events WHERE payload ? 'x;y';

/* no weight: one call */ SELECT email FROM accounts WHERE id = 3;
CREATE INDEX ON events (kind);
SELEC broken FROM;
