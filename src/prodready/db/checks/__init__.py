"""Built-in checks: each module registers its checks with `@check` on import."""
