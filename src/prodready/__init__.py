"""prodready: make a PostgreSQL-backed web app production-ready, and prove it."""

__version__ = "0.1.0"
