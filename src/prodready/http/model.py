"""What the probe saw: each request it sent and the response, as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from prodready.http.tls import TlsFacts


@dataclass(frozen=True)
class Exchange:
    """One request and its response. `purpose` says why it was sent (home, health:/healthz,
    error:unknown_route, cors:preflight, ratelimit:login...)."""

    purpose: str
    method: str
    url: str
    request_headers: dict[str, str]
    status: int | None
    headers: list[tuple[str, str]]
    body: str  # the first bytes as text (secrets redacted); "" for binary
    elapsed_ms: float
    truncated: bool = False
    binary: bool = False
    error: str | None = None
    secrets: tuple[str, ...] = ()  # kinds of secret the body held before redaction

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def all_headers(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def object(self) -> str:
        """How a finding names it: the method and the path."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class ProbeSnapshot:
    target: str
    exchanges: list[Exchange]
    elapsed_s: float
    login: str | None = None  # "POST /api/login" when one was named or found
    notes: list[str] = field(default_factory=list)
    surface: str = "http"
    tls: TlsFacts | None = None  # over https: the certificate's verification and expiry

    @property
    def https(self) -> bool:
        return self.target.lower().startswith("https://")

    def by_purpose(self, prefix: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.purpose.startswith(prefix)]

    def first(self, purpose: str) -> Exchange | None:
        return next((e for e in self.exchanges if e.purpose == purpose), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
