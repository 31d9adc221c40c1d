"""Find credentials in text: detect-secrets' detectors plus the keys web apps on Postgres hold.

detect-secrets supplies the provider patterns (AWS, Stripe live, Slack, GitHub, private
keys, URLs with a password...). We add what it lacks or cannot judge: Supabase keys (a
JWT's `role` claim tells the public `anon` key from `service_role`), OpenAI project and
Anthropic keys, and a filter for look-alikes (documentation examples, placeholders). A
secret never leaves this module whole: a hit carries its first four characters and a
fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from prodready.model import Severity

# Provider detectors whose patterns are specific enough to trust on catalog and code text;
# the entropy and keyword plugins flag every hash and identifier there.
_DETECTORS: tuple[type[RegexBasedDetector], ...] = (
    ArtifactoryDetector, AWSKeyDetector, AzureStorageKeyDetector, BasicAuthDetector,
    DiscordBotTokenDetector, GitHubTokenDetector, GitLabTokenDetector, MailchimpDetector,
    NpmDetector, OpenAIDetector, PrivateKeyDetector, PypiTokenDetector, SendGridDetector,
    SlackDetector, SquareOAuthDetector, StripeDetector, TelegramBotTokenDetector,
    TwilioKeyDetector,
)  # fmt: skip

# Keys whose leak is an account takeover rather than a quota problem.
_CRITICAL_KINDS = frozenset({
    "AWS Access Key", "Private Key", "Stripe Access Key", "Supabase service_role key",
    "Azure Storage Account access key", "GitHub Token", "GitLab Token", "Supabase secret key",
})  # fmt: skip

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}")
_OWN_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Anthropic API key", re.compile(r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{32,}")),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{32,}")),
    ("GitHub Token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}")),
    ("Supabase secret key", re.compile(r"\bsb_secret_[A-Za-z0-9_-]{20,}")),
    ("Stripe webhook secret", re.compile(r"\bwhsec_[A-Za-z0-9]{32,}")),
    # A signing secret assigned literally: whoever reads it can mint any session or token.
    (
        "JWT signing secret",
        re.compile(
            r"(?i)\b(?:(?:jwt|session|cookie|auth|nextauth|token)[_-]?secret(?:[_-]?key)?|"
            r"secret[_-]?key)\b"
            r"[\"']?\s*[:=]{1,2}\s*[\"']([^\"'\s]{16,})[\"']"
        ),
    ),
)
# Strings worth a closer look: long runs of key-ish characters (cheap pre-filter).
_CANDIDATE = re.compile(r"[A-Za-z0-9_\-+/=]{16,}|://[^\s:@/]+:[^\s@]+@|PRIVATE KEY|(?i:secret)")
# What documentation, templates and tests put where a secret would go.
_PLACEHOLDER = re.compile(
    r"example|sample|dummy|placeholder|changeme|change-me|your[_-]|xxxx|\*\*\*|<[^>]*>|"
    r"\$\{|\{\{|%\(|^(?:password|secret|pass|pwd|token|postgres|root|admin|test|dev|mysql|user)$|"
    r"^\{[^}]*\}$|^\$[A-Za-z_]|^%[sd]$|"  # f-string, shell and printf slots
    r"^[spr]k_test_",  # Stripe test mode keys, whatever the variable holding them is called
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SecretHit:
    """One credential found in a text: what it is, where, and a redacted trace of it."""

    kind: str
    severity: Severity
    line: int  # 1-based line within the scanned text
    preview: str  # first four characters, then an ellipsis
    fingerprint: str  # sha256 of the value, 12 hex digits: the same secret, the same mark

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity.label,
            "line": self.line,
            "preview": self.preview,
            "fingerprint": self.fingerprint,
        }


def find_secrets(text: str) -> list[SecretHit]:
    """Every credential in `text`, one hit per (line, value); look-alikes left out."""
    hits: dict[tuple[int, str], SecretHit] = {}
    for number, line in enumerate(text.splitlines() or [text], start=1):
        if not _CANDIDATE.search(line):
            continue
        for kind, value in _line_secrets(line):
            if _looks_fake(value):
                continue
            key = (number, value)
            if key not in hits:
                hits[key] = SecretHit(kind, _severity(kind), number, redact(value), mark(value))
    return sorted(hits.values(), key=lambda h: (h.line, h.kind, h.fingerprint))


def redact(value: str) -> str:
    return value[:4] + "…"


def mark(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


# (kind, pattern) from each detector's class attributes, read once
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    tuple(
        (str(getattr(d, "secret_type")), pattern)  # noqa: B009  (a property on instances)
        for d in _DETECTORS
        for pattern in getattr(d, "denylist")  # noqa: B009
    )
    + _OWN_RULES
)


def _line_secrets(line: str) -> Iterator[tuple[str, str]]:
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(line):
            yield kind, _value(match)
    for match in _JWT.finditer(line):
        jwt_kind = _jwt_kind(match.group(0))
        if jwt_kind is not None:
            yield jwt_kind, match.group(0)


def _value(match: re.Match[str]) -> str:
    """The secret in a match: its group when that holds the key (AWS secret, a URL's
    password), the whole match when the group is only its prefix (GitHub's `ghp`)."""
    if not match.re.groups or match.group(1) is None:
        return match.group(0)
    is_prefix = match.start(1) == match.start(0) and match.end(1) < match.end(0)
    return match.group(0) if is_prefix else match.group(1)


def _jwt_kind(token: str) -> str | None:
    """Supabase's `anon` key is public by design; its `service_role` key bypasses RLS."""
    payload = jwt_payload(token)
    if payload is None:
        return None
    role = payload.get("role")
    if role == "anon":
        return None
    if role == "service_role":
        return "Supabase service_role key"
    return "JSON Web Token"


def jwt_payload(token: str) -> dict[str, Any] | None:
    """The claims of a `header.payload.signature` token, or None when they do not decode."""
    part = token.split(".")[1]
    try:
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _looks_fake(value: str) -> bool:
    if _PLACEHOLDER.search(value):
        return True
    core = re.sub(r"[^A-Za-z0-9]", "", value)
    return len(set(core)) <= 3  # 'aaaa…', '0000…': filler, not a key


def _severity(kind: str) -> Severity:
    return Severity.CRITICAL if kind in _CRITICAL_KINDS else Severity.HIGH
