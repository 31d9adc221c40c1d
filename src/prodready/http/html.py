"""What the probe reads from a page's HTML: the scripts it loads."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.found.append(dict(attrs))


def external_scripts_without_integrity(body: str, page_url: str, own_host: str) -> list[str]:
    """The `src` of each <script> served by another host that carries no integrity hash."""
    parser = _Scripts()
    try:
        parser.feed(body)
        parser.close()
    except (AssertionError, ValueError):
        pass  # keep what was parsed of a broken page
    missing = []
    for attrs in parser.found:
        src = (attrs.get("src") or "").strip()
        if not src or attrs.get("integrity"):
            continue
        absolute = urljoin(page_url, src)
        if urlsplit(absolute).netloc.lower() not in ("", own_host):
            missing.append(absolute)
    return list(dict.fromkeys(missing))
