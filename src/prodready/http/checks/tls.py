"""Over https: the certificate (trusted, not about to expire) and plain http redirecting."""

from __future__ import annotations

from collections.abc import Iterator

from prodready.http.model import ProbeSnapshot
from prodready.model import Category, Issue, Severity
from prodready.registry import Options, check

EXPIRY_WARNING_DAYS = 30  # ACME clients renew at 30 days left: later means renewal failed
EXPIRY_URGENT_DAYS = 7
REDIRECTS = (301, 302, 307, 308)


@check(
    "tls_certificate_invalid",
    title="The TLS certificate is not trusted",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    surface="http",
)
def tls_certificate_invalid(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Browsers refuse an expired, self-signed or wrong-host certificate, and clients that
    are told to ignore it can be intercepted. Serve a certificate from a public CA (Let's
    Encrypt) for this host name, with its full chain."""
    tls = snap.tls
    if tls is not None and not tls.verified:
        yield Issue(
            object=f"{tls.host}:{tls.port} (certificate)",
            detail=f"Verification failed: {tls.error}.",
            evidence={"host": tls.host, "port": tls.port, "error": tls.error},
            verify=f"curl -sI https://{tls.host}:{tls.port}/ succeeds without -k",
        )


@check(
    "tls_certificate_expiring",
    title="The TLS certificate expires soon",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def tls_certificate_expiring(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A certificate with under 30 days left means automatic renewal is not working (ACME
    clients renew at 30); when it lapses every client refuses the site. High under 7 days.
    Fix the renewal job (certbot renew, cert-manager) and alert on expiry."""
    tls = snap.tls
    if tls is None or not tls.verified or tls.days_left is None:
        return
    if tls.days_left < EXPIRY_WARNING_DAYS:
        yield Issue(
            object=f"{tls.host}:{tls.port} (certificate)",
            detail=f"The certificate expires on {tls.not_after} ({tls.days_left:g} days).",
            evidence={"not_after": tls.not_after, "days_left": tls.days_left},
            severity=Severity.HIGH if tls.days_left < EXPIRY_URGENT_DAYS else None,
            verify="the certificate has more than 30 days left, and renewal is scheduled",
        )


@check(
    "https_redirect_missing",
    title="Plain http does not redirect to https",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def https_redirect_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A site that also answers on plain http lets a user (or a link) stay unencrypted, and
    HSTS never reaches them. Answer every http request with a 301/308 to https. Judged only
    over https; no plain-http listener at all is fine."""
    plain = snap.first("tls:plain_http")
    if plain is None or plain.status is None:
        return
    location = (plain.header("location") or "").lower()
    if plain.status not in REDIRECTS or not location.startswith("https://"):
        yield Issue(
            object=f"{plain.object} (plain http)",
            detail=f"{plain.url} answered {plain.status}"
            + (f" to {location}" if location else "")
            + " instead of redirecting to https.",
            evidence={"request": plain.url, "status": plain.status, "location": location or None},
            verify=f"curl -sI {plain.url} shows 301 and Location: https://...",
        )
