"""`prodready scan` on planted repositories: the JSON contract, SARIF, exit codes, baselines."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest


def jwt(**claims: str) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWc"


SERVICE = jwt(role="service_role", iss="supabase")
LIVE = "sk_live_" + "51HxYzAbCdEfGhIjKlMnOpQr"

# One repository with an Express API, a Next.js frontend, a FastAPI service and a Django app.
REPO = {
    "package.json": json.dumps({
        "dependencies": {"express": "4", "pg": "8", "next": "14", "cors": "2",
                         "@supabase/supabase-js": "2"},
        "scripts": {"dev": "next dev"},
    }),
    ".env.example": "DATABASE_URL=\n",
    ".env": f"DATABASE_URL=postgres://app:Xy7pQ2rT9wLk@db/app\nSTRIPE_KEY={LIVE}\n",
    "api/server.js": (
        "const express = require('express');\nconst cors = require('cors');\n"
        "const app = express();\napp.use(cors({ origin: true, credentials: true }));\n"
        "app.get('/orders', async (req, res) => {\n"
        "  console.log('orders for', req.headers.authorization);\n"
        "  const r = await pool.query('SELECT * FROM orders WHERE user_id = ' + req.query.u);\n"
        "  for (const o of r.rows) {\n"
        "    o.items = await pool.query('SELECT id FROM items WHERE order_id = $1', [o.id]);\n"
        "  }\n  res.json(r.rows);\n});\n"
        "app.use((err, req, res, next) => res.status(500).send(err.stack));\n"
        f"const stripe = require('stripe')('{LIVE}');\n"
        "app.listen(process.env.PORT);\n"
    ),
    "src/components/AdminPanel.tsx": (
        "'use client'\nimport { createClient } from '@supabase/supabase-js'\n"
        f"const admin = createClient(process.env.NEXT_PUBLIC_SUPABASE_URL!, '{SERVICE}')\n"
    ),
    "service/main.py": (
        "import os\nfrom fastapi import FastAPI\n"
        "from fastapi.middleware.cors import CORSMiddleware\napp = FastAPI()\n"
        "app.add_middleware(CORSMiddleware, allow_origins=['*'], allow_credentials=True)\n"
        "@app.get('/u/{uid}')\ndef user(uid: str):\n"
        "    cur.execute(f\"SELECT name FROM users WHERE id = '{uid}'\")\n"
        "    print('user', uid)\n    return cur.fetchone()\n"
        "KEY = os.getenv('OPENAI_API_KEY')\n"
    ),
    "shop/views.py": (
        "def orders(request):\n    out = []\n"
        "    for o in Order.objects.filter(user=request.user):\n"
        "        out.append(Customer.objects.get(id=o.customer_id))\n    return out\n"
    ),
    "tests/test_api.py": "def test_x():\n    print('fine in tests')\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0binary".decode("latin-1"),
}  # fmt: skip
EXPECTED = {
    ("console_logging_in_server", "api/server.js", 6),
    ("console_logging_in_server", "service/main.py", 9),
    ("cors_wildcard_credentials_in_code", "api/server.js", 4),
    ("cors_wildcard_credentials_in_code", "service/main.py", 5),
    ("env_file_committed", ".env", None),
    ("env_undocumented", "api/server.js", 15),
    ("env_undocumented", "service/main.py", 11),
    ("env_undocumented", "src/components/AdminPanel.tsx", 3),
    ("env_unvalidated", "api/server.js", 15),
    ("error_stack_returned", "api/server.js", 13),
    ("migrations_missing", None, None),
    ("n_plus_one", "api/server.js", 9),
    ("n_plus_one", "shop/views.py", 4),
    ("secret_in_frontend", "src/components/AdminPanel.tsx", 3),
    ("secret_in_source", "api/server.js", 14),
    ("select_star", "api/server.js", 7),
    ("sql_string_built", "api/server.js", 7),
    ("sql_string_built", "service/main.py", 8),
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", "scan", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted")
    for name, text in REPO.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("latin-1") if name.endswith(".png") else text.encode())
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "planted"], check=True)
    return root


@pytest.fixture(scope="module")
def report(repo: Path) -> dict[str, object]:
    done = run_cli(str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def test_json_contract_and_every_planted_finding(repo: Path, report: dict[str, object]) -> None:
    assert set(report) >= {"root", "files_scanned", "elapsed_s", "findings"}
    findings = report["findings"]
    assert isinstance(findings, list)
    for f in findings:
        assert set(f) >= {"check", "severity", "file", "line", "object", "title", "evidence", "fix"}
    got = {(f["check"], f["file"], f["line"]) for f in findings}
    assert got == EXPECTED
    assert report["files_scanned"] == len(REPO) - 1  # the PNG is binary


def test_no_secret_is_printed_whole_in_any_format(repo: Path, report: dict[str, object]) -> None:
    texts = [json.dumps(report)] + [run_cli(str(repo), "-f", f).stdout for f in ("md", "sarif")]
    texts.append(run_cli(str(repo)).stdout)
    for text in texts:
        assert SERVICE not in text and LIVE not in text and "Xy7pQ2rT9wLk" not in text
        assert SERVICE[:4] in text or "eyJh" in text


def test_sarif_results_carry_physical_locations(repo: Path) -> None:
    log = json.loads(run_cli(str(repo), "--format", "sarif").stdout)
    results = log["runs"][0]["results"]
    located = [r for r in results if "locations" in r]
    assert len(located) == len(EXPECTED) - 1  # migrations_missing is about the repository
    physical = located[0]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uriBaseId"] == "SRCROOT"
    assert {r["ruleId"] for r in results} <= {
        rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]
    }


def test_fail_on_and_exit_codes(repo: Path, tmp_path: Path) -> None:
    assert run_cli(str(repo), "--fail-on", "critical", "-f", "json").returncode == 1
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "app.py").write_text("x = 1\n")
    assert run_cli(str(clean), "--fail-on", "info").returncode == 0
    missing = run_cli(str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.startswith("prodready: error: ")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = run_cli(str(clean), "--baseline", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert run_cli(str(clean), "--format", "xml").returncode == 2


def test_written_baseline_silences_known_secrets(repo: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    run_cli(str(repo), "-f", "json", "--write-baseline", str(baseline))
    data = json.loads(run_cli(str(repo), "-f", "json", "--baseline", str(baseline)).stdout)
    checks = {f["check"] for f in data["findings"]}
    assert "secret_in_source" not in checks and "secret_in_frontend" not in checks
    assert "env_file_committed" in checks  # a committed .env is not a single secret


def test_audit_repo_folds_the_scan_into_one_plan(
    repo: Path, tmp_path: Path, report: dict[str, object]
) -> None:
    """`audit --repo`: the scan's findings in the audit's score, plan, JSON and SARIF (with
    physical locations)."""
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "audit", "--repo", str(repo), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    audit = json.loads((out / "report.json").read_text())
    assert audit["target"]["repo"]["files_scanned"] == report["files_scanned"]
    scanned = {(f["check"], f["object"]) for f in report["findings"]}  # type: ignore[union-attr]
    assert {(f["check"], f["object"]) for f in audit["findings"]} == scanned
    assert audit["score"]["overall"] < 10
    plan = (out / "PLAN.md").read_text()
    assert f"Production readiness plan: {repo}" in plan and "secret_in_frontend" in plan
    for text in (plan, (out / "report.sarif").read_text(), json.dumps(audit)):
        assert SERVICE not in text and LIVE not in text and "Xy7pQ2rT9wLk" not in text
    sarif = json.loads((out / "report.sarif").read_text())
    located = [
        r["locations"][0]["physicalLocation"]
        for r in sarif["runs"][0]["results"]
        if "physicalLocation" in r["locations"][0]
    ]
    assert len(located) == len(EXPECTED) - 1
    assert {"uri": "api/server.js", "uriBaseId": "SRCROOT"} in [
        p["artifactLocation"] for p in located
    ]
