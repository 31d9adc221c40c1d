"""The HTTP probe against two real Starlette apps (careless and hardened, uvicorn on
127.0.0.1, over a throwaway PostgreSQL): requests, seconds, which checks flag which app,
and prodready's score next to the MDN Observatory method's.

    .venv/bin/python -m bench.probe_apps
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prodready.http.collect import ProbeOptions
from prodready.http.pipeline import run_probe
from prodready.pg.cluster import LocalCluster
from prodready.registry import catalog
from tests.integration.test_probe import ENDPOINTS, LOGIN, serve

RESULTS = Path(__file__).parent / "results" / "probe_apps.json"
SUMMARY = Path(__file__).parent / "results" / "probe_apps.md"


def main() -> None:
    rows: dict[str, Any] = {}
    with LocalCluster() as cluster:
        for app in ("careless", "hardened"):
            for url in serve(app, cluster.dsn()):
                result = run_probe(url, ProbeOptions(login=LOGIN, endpoints=ENDPOINTS))
                data = result.to_json()
                rows[app] = {
                    "requests": data["requests_sent"],
                    "elapsed_s": data["elapsed_s"],
                    "checks": sorted({f["check"] for f in data["findings"]}),
                    "score": data["score"],
                    "observatory": data["observatory"],
                    "rate_limits": data["rate_limits"],
                }
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    checks = [c.info.id for c in catalog() if c.info.surface == "http"]
    lines = ["# HTTP probe on two real apps (`.venv/bin/python -m bench.probe_apps`)", ""]
    for app, row in rows.items():
        mdn = row["observatory"]
        lines.append(
            f"- {app}: {row['requests']} requests in {row['elapsed_s']} s; "
            f"{len(row['checks'])} checks flag it; readiness {row['score']}/10; "
            f"MDN Observatory method {mdn['score']} ({mdn['grade']})."
        )
    lines += ["", "| check | careless | hardened |", "|---|---|---|"]
    for check in checks:
        marks = ["flags" if check in rows[a]["checks"] else "-" for a in ("careless", "hardened")]
        lines.append(f"| `{check}` | {marks[0]} | {marks[1]} |")
    SUMMARY.write_text("\n".join(lines) + "\n")
    print(SUMMARY.read_text())


if __name__ == "__main__":
    main()
