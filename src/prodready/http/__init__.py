"""The HTTP probe: a bounded, polite set of requests (collect) → ProbeSnapshot → checks.

Same shape as `db/`: `collect` is the only code that talks to the app, the snapshot is
plain data (bodies truncated, secrets redacted), checks are pure functions over it.
"""
