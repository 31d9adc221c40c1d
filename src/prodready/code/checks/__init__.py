"""The source scan's checks, one module per theme; each registers itself with `@code_check`."""
