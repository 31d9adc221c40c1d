"""What the server's TLS certificate says: verified or why not, and when it expires."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class TlsFacts:
    host: str
    port: int
    verified: bool
    error: str | None = None  # why verification failed ("certificate has expired", ...)
    not_after: str | None = None  # as the certificate says, e.g. "Jun  1 12:00:00 2027 GMT"
    days_left: float | None = None
    protocol: str | None = None  # "TLSv1.3"


def read_tls(host: str, port: int, ca_file: str | None, timeout_s: float) -> TlsFacts:
    """Handshake once with verification on; a failed verification is a fact, not an error.
    Unreachable hosts raise OSError for the caller to report."""
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert() or {}
            protocol = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return TlsFacts(host, port, False, error=exc.verify_message or str(exc))
    not_after = str(cert.get("notAfter")) if cert.get("notAfter") else None
    days_left = None
    if not_after:
        days_left = round((ssl.cert_time_to_seconds(not_after) - time.time()) / 86_400, 1)
    return TlsFacts(host, port, True, None, not_after, days_left, protocol)
