"""Source and text scanning: the secrets engine (shared with the database's catalog check)."""
