"""The bytes of each request: built once per endpoint, or per request when it is templated."""

from __future__ import annotations

import bisect
import itertools
import random
from urllib.parse import quote

from prodready.load.scenario import TEMPLATE, Endpoint, Scenario
from prodready.load.target import Target

USER_AGENT = "prodready-load"


class RequestFactory:
    """Picks an endpoint by weight and renders its HTTP/1.1 request (keep-alive)."""

    def __init__(self, scenario: Scenario, target: Target, seed: int | None = None) -> None:
        self.endpoints = scenario.endpoints
        self.target = target
        self.variables = scenario.variables
        self.random = random.Random(seed)
        self.cumulative = list(itertools.accumulate(e.weight for e in self.endpoints))
        # endpoints without ${...} are rendered once: no per-request string work at high rates
        self.fixed = [None if e.templated else self._render(e, {}) for e in self.endpoints]

    def pick(self) -> int:
        if len(self.endpoints) == 1:
            return 0
        return bisect.bisect_right(self.cumulative, self.random.random() * self.cumulative[-1])

    def build(self, index: int) -> bytes:
        fixed = self.fixed[index]
        if fixed is not None:
            return fixed
        return self._render(self.endpoints[index], {})

    def _render(self, endpoint: Endpoint, chosen: dict[str, str]) -> bytes:
        def fill(text: str, escape: bool) -> str:
            def value(match: object) -> str:
                name = match.group(1)  # type: ignore[attr-defined]
                if name not in chosen:  # one value per variable per request, wherever it appears
                    chosen[name] = self.random.choice(self.variables[name])
                return quote(chosen[name], safe="") if escape else chosen[name]

            return TEMPLATE.sub(value, text)

        path = fill(self.target.path(endpoint.path), escape=True)
        body = fill(endpoint.body, escape=False).encode() if endpoint.body is not None else b""
        lines = [
            f"{endpoint.method} {path} HTTP/1.1",
            f"Host: {self.target.host_header}",
            f"User-Agent: {USER_AGENT}",
            "Accept: */*",
        ]
        names = {k.lower() for k in endpoint.headers}
        lines += [f"{k}: {fill(v, escape=False)}" for k, v in endpoint.headers.items()]
        if body or endpoint.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
            if "content-type" not in names and body[:1] in (b"{", b"["):
                lines.append("Content-Type: application/json")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
