"""The live dashboard, /metrics and alert rules for the database prodready watches."""

from prodready.serve.alerts import render_rules
from prodready.serve.server import Dashboard, ServeOptions

__all__ = ["Dashboard", "ServeOptions", "render_rules"]
