"""The target URL: parsed once, resolved once, and refused unless it is loopback or allowed."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from prodready.errors import TargetError, UsageError


@dataclass(frozen=True)
class Target:
    """Where the load goes: `address` is the resolved IP every connection uses."""

    url: str
    scheme: str
    host: str
    port: int
    base_path: str
    address: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def path(self, endpoint_path: str) -> str:
        """The endpoint's path under the URL's own path (`http://h/api` + `/x` = `/api/x`);
        `/` is the URL itself (a built-in profile loads exactly the URL it was given)."""
        if endpoint_path == "/":
            return self.base_path
        return self.base_path.rstrip("/") + endpoint_path


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or a usage error saying what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"invalid URL {url!r}: expected http:// or https://")
    if not parts.hostname:
        raise UsageError(f"invalid URL {url!r}: no host")
    default = 443 if parts.scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or default, path


def resolve_target(url: str, allow_hosts: tuple[str, ...] = ()) -> Target:
    """Resolve the URL's host; refuse anything but loopback unless the user named the host."""
    scheme, host, port, path = parse_url(url)
    allowed = host.lower() in {h.lower() for h in allow_hosts}
    refusal = UsageError(
        f"refusing to load {host}: not a loopback address; name it with --allow-host {host} "
        "if you own it and mean to load it"
    )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if not allowed:  # a name that does not resolve is not known to be loopback
            raise refusal from None
        raise TargetError(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not allowed and not all(
        ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses
    ):
        raise refusal
    return Target(url, scheme, host, port, path, addresses[0])
