"""The demo app's source tree, written next to its reports so `prodready demo` can scan it.

The server is the demo API's real code; the frontend is a small Next.js client component
holding a Supabase service_role key, the leak readiness plans ask to remove. The key is
made here, at run time, so this repository never holds a key-shaped literal.
"""

from __future__ import annotations

import base64
import json
import secrets
from importlib import resources
from pathlib import Path

PACKAGE_JSON = {
    "name": "demo-marketplace",
    "private": True,
    "dependencies": {"next": "14.2.0", "@supabase/supabase-js": "2.45.0"},
}
ENV_EXAMPLE = "PRODREADY_DEMO_API_DSN=\nNEXT_PUBLIC_SUPABASE_URL=\n"
FRONTEND = """'use client'
import {{ createClient }} from '@supabase/supabase-js'

// "temporary": the admin page needs to see every order
export const supabase = createClient(
  process.env.NEXT_PUBLIC_SUPABASE_URL!,
  '{key}',
)
"""


def write_source_tree(out_dir: Path) -> Path:
    """Write the tree under `out_dir`/source and return its root."""
    root = out_dir / "source"
    server = resources.files("prodready.demo").joinpath("api.py").read_text()
    files = {
        "package.json": json.dumps(PACKAGE_JSON, indent=2) + "\n",
        ".env.example": ENV_EXAMPLE,
        "server/api.py": server,
        "app/admin/supabase.ts": FRONTEND.format(key=_service_role_key()),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _service_role_key() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"iss": "supabase", "ref": "demo", "role": "service_role", "iat": 1_700_000_000}
    signature = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{signature}"
