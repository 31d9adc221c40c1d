"""The secrets engine: real key shapes are found and redacted; look-alikes are not."""

from __future__ import annotations

import base64
import json

import pytest

from prodready.code.secrets import find_secrets
from prodready.model import Severity


def jwt(**claims: str) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWc"


@pytest.mark.parametrize(
    ("text", "kind", "severity"),
    [
        (f"headers := 'Bearer {jwt(role='service_role', iss='supabase')}'",
         "Supabase service_role key", Severity.CRITICAL),
        (f"token = '{jwt(sub='42', role='authenticated')}'", "JSON Web Token", Severity.HIGH),
        ("key = 'sk_live_51HxYzAbCdEfGhIjKlMnOpQrSt'", "Stripe Access Key", Severity.CRITICAL),
        ("aws = 'AKIAJ2QX7V5ZK3LMNOPQ'", "AWS Access Key", Severity.CRITICAL),
        ("url = 'postgresql://app:S3cr3tPassw0rd@db.internal/app'", "Basic Auth Credentials",
         Severity.HIGH),
        ("k = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ'", "OpenAI API key",
         Severity.HIGH),
        ("k = 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD'", "Anthropic API key",
         Severity.HIGH),
        ("-----BEGIN RSA PRIVATE KEY-----", "Private Key", Severity.CRITICAL),
        ("hook = 'https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/abcdefghijklmnopqrstuvwx'",
         "Slack Token", Severity.HIGH),
    ],
)  # fmt: skip
def test_real_key_shapes_are_found_and_redacted(text: str, kind: str, severity: Severity) -> None:
    [hit] = find_secrets(f"-- line one\n{text}")
    assert (hit.kind, hit.severity, hit.line) == (kind, severity, 2)
    assert hit.preview.endswith("…") and len(hit.preview) == 5
    assert len(hit.fingerprint) == 12 and hit.preview[:4] in text


@pytest.mark.parametrize(
    "text",
    [
        f"anon_key := '{jwt(role='anon', iss='supabase')}'",  # public by design
        "aws = 'AKIAIOSFODNN7EXAMPLE'",  # AWS's documentation key
        "url = 'postgres://user:${PGPASSWORD}@localhost/app'",
        "url = 'postgres://user:password@localhost/app'",
        "id uuid DEFAULT '3f2504e0-4f89-11d3-9a0c-0305e82c3301'",
        "md5 = 'd41d8cd98f00b204e9800998ecf8427e'",
        "integrity sha512-Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4",
        "key = 'sk_test_51HxYzAbCdEfGhIjKlMnOpQrSt'",  # Stripe test mode
        "key = 'sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'",
        "SELECT nextval('orders_id_seq'::regclass)",
    ],
)
def test_look_alikes_are_not_secrets(text: str) -> None:
    assert find_secrets(text) == []


def test_the_same_secret_on_two_lines_is_two_hits_with_one_fingerprint() -> None:
    key = "sk_live_51HxYzAbCdEfGhIjKlMnOpQrSt"
    hits = find_secrets(f"a := '{key}';\nb := '{key}';")
    assert [h.line for h in hits] == [1, 2] and len({h.fingerprint for h in hits}) == 1
    assert key not in repr(hits)
