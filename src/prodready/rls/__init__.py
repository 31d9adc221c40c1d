"""Tenant isolation proven by attack: discover tenants and identity, try to cross, report.

The flow mirrors `db/`: `discover` reads the catalog and the data (read-only) into a
`Plan`, `attacks` turns it into statements (pure), `runner` executes each attempt in a
transaction that is rolled back and proves with row counts that nothing changed, and
`render` formats the `RlsResult`.
"""
