"""The rules the source scan adds to the shared secrets engine, both ways."""

from __future__ import annotations

import pytest

from prodready.code.secrets import find_secrets

GHP = "ghp_" + "WWrprhZNlwsekkqH8kQrPTsDSuFEhbtyvAYm"
PAT = "github_pat_" + "11ABCDEFG0123456789abc_" + "x1Y2z3" * 10


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (f"const token = '{GHP}';", "GitHub Token"),
        (f"const gh = '{PAT}';", "GitHub Token"),
        ("k = 'sb_secret_" + "N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz'", "Supabase secret key"),
        ("hook = 'whsec_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE'", "Stripe webhook secret"),
        ("const JWT_SECRET = '" + "q8Zr2LmX0vT5wKpA9sDf3GhJ';", "JWT signing secret"),
        ('SESSION_SECRET: "' + 'u7Yt5Re3Wq1Az9Sx7Dc5Fv3G"', "JWT signing secret"),
    ],
)
def test_added_rules_find_the_whole_key(line: str, kind: str) -> None:
    [hit] = find_secrets(line)
    assert hit.kind == kind and len(hit.preview) == 5


@pytest.mark.parametrize(
    "line",
    [
        "const JWT_SECRET = process.env.JWT_SECRET;",
        "const JWT_SECRET = 'change-me-in-production';",
        "url = f'postgresql://{user}:{self.password}@127.0.0.1/db'",
        "url = 'postgres://postgres:postgres@localhost:5432/app'",
        "url = 'postgres://app:$PGPASSWORD@db/app'",
        "const token = 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';",
        "--db postgresql://user:pass@host/db",  # a short placeholder password
    ],
)
def test_added_look_alikes_are_not_secrets(line: str) -> None:
    assert find_secrets(line) == []
