"""Every source-scan check fires on a planted positive case and stays silent on its look-alike."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from prodready.code.scan import scan
from prodready.model import Severity

PKG_EXPRESS = json.dumps({"dependencies": {"express": "4", "pg": "8", "pino": "9"}})
PKG_NEXT = json.dumps({"dependencies": {"next": "14", "@supabase/supabase-js": "2"}})


def jwt(**claims: str) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWc"


SERVICE = jwt(role="service_role", iss="supabase")
ANON = jwt(role="anon", iss="supabase")
LIVE = "sk_live_" + "51HxYzAbCdEfGhIjKlMnOpQr"


def findings(tmp_path: Path, files: dict[str, str], check: str) -> list[dict[str, object]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = scan(tmp_path, workers=1)
    assert not result.run.failures
    return [f.to_json() for f in result.run.findings if f.finding.check == check]


# (check, files that must fire, files that must not): one case per line of the table.
CASES = [
    ("secret_in_source",
     {"server/pay.js": f"const stripe = require('stripe')('{LIVE}');\n"},
     {"server/pay.js": "const stripe = require('stripe')(process.env.STRIPE_SECRET_KEY);\n"
                       "const t = 'sk_test_51HxYzAbCdEfGhIjKlMnOpQrSt';\n"}),
    ("secret_in_source",
     {"app.py": "AWS = 'AKIAJ2QX7V5ZK3LMNOPQ'\n"},
     {"app.py": "AWS = 'AKIAJ2QX7V5ZK3LMNOPQ'  # prodready: allow-secret\n"}),
    ("secret_in_source",
     {"config.py": "JWT_SECRET = 'q8Zr2LmX0vT5wKpA9sDf3GhJ'\n"},
     {"config.py": "JWT_SECRET = os.environ['JWT_SECRET']\n"
                   "h = 'd41d8cd98f00b204e9800998ecf8427e'\n"}),
    ("secret_in_frontend",
     {"package.json": PKG_NEXT, "src/components/Admin.tsx":
      f"'use client'\nexport const supabase = createClient(url, '{SERVICE}')\n"},
     {"package.json": PKG_NEXT, "src/components/Client.tsx":
      f"'use client'\nexport const supabase = createClient(url, '{ANON}')\n"}),
    ("env_file_committed",
     {".env": "DATABASE_URL=postgres://app:Xy7pQ2rT9w@db/app\nPORT=3000\n"},
     {".env.example": "DATABASE_URL=\nPORT=\n"}),
    ("console_logging_in_server",
     {"package.json": PKG_EXPRESS, "server.js": "app.post('/login', (req, res) => {\n"
      "  console.log('login', req.body);\n});\n"},
     {"package.json": PKG_EXPRESS, "server.js": "logger.info('login');\n",
      "tests/login.test.js": "console.log('debug');\n", "scripts/seed.js": "console.log(1);\n",
      "src/cli/report.js": "console.log(table);\n",
      "shop/management/commands/seed.py": "print('seeded')\n"}),
    ("sql_string_built",
     {"server.js": "app.get('/u', async (req, res) => {\n"
      "  await pool.query(`SELECT name FROM users WHERE id = ${req.query.id}`);\n});\n"},
     {"server.js": "await pool.query('SELECT name FROM users WHERE id = $1', [req.query.id]);\n"
      "await sql`SELECT name FROM users WHERE id = ${req.query.id}`;\n"
      "await pool.query(`SELECT name FROM ${TABLE} WHERE id = 1`);\n"}),
    ("sql_string_built",
     {"api/views.py": "def v(request, uid):\n"
      "    q = 'SELECT name FROM users WHERE id = ' + uid\n    cursor.execute(q)\n"},
     {"api/views.py": "def v(request, uid):\n"
      "    cursor.execute('SELECT name FROM users WHERE id = %s', (uid,))\n"
      "    cursor.execute(sql.SQL('SELECT {} FROM t').format(sql.Identifier(col)))\n"}),
    ("sql_string_built",
     {"api/q.js": "function a(req) {\n  let q = 'SELECT name FROM users WHERE age = ';\n"
      "  q += req.query.age;\n  return client.query(q);\n}\n"},
     {"api/q.js": "function a(req) {\n  let q = 'SELECT name FROM users WHERE age = ' + req.x;\n}\n"
      "function b() {\n  q = 'SELECT name FROM users WHERE age = ' + '3';\n"
      "  return client.query(q);\n}\n"}),
    ("sql_string_built",
     {"api/q.js": "const q = 'SELECT * FROM t WHERE id = '.concat(req.query.id);\n"
      "await sequelize.query(util.format('SELECT id FROM t WHERE a = %s', req.query.a));\n"
      "await pool.query(q);\n"},
     {"api/q.js": "const q = 'SELECT * FROM t WHERE id = '.concat('3');\nawait pool.query(q);\n"}),
    ("sql_string_built",
     {"shop/views.py": "def v(request, name):\n"
      "    Person.objects.extra(where=['name = %s' % name])\n"
      "    session.query(User).filter('name = {}'.format(name))\n"},
     {"shop/views.py": "def v(request, name):\n"
      "    Person.objects.extra(where=['name = %s'], params=[name])\n"
      "    session.query(User).filter(User.name == name)\n"}),
    ("sql_string_built",
     {"api/v.py": "def v(cur, name):\n    q = 'SELECT id FROM t WHERE name = %s'\n"
      "    cur.execute(q % name)\n    s = 'SELECT id FROM t WHERE a = '\n    s += name\n"
      "    cur.execute(s)\n"},
     {"api/v.py": "def v(cur, name):\n    q = 'SELECT id FROM t WHERE name = %s'\n"
      "    cur.execute(q, (name,))\n    cur.execute('SELECT * FROM t'.format())\n"}),
    ("select_star",
     {"db.py": "cur.execute('SELECT * FROM orders WHERE id = %s', (i,))\n"},
     {"db.py": "cur.execute('SELECT count(*) FROM orders')\n"}),
    ("n_plus_one",
     {"server.ts": "for (const o of orders) {\n"
      "  const u = await prisma.user.findUnique({ where: { id: o.userId } });\n}\n"},
     {"server.ts": "const users = await prisma.user.findMany({ where: { id: { in: ids } } });\n"
      "for (const row of await pool.query('SELECT id FROM t')) { total += row.n; }\n"}),
    ("n_plus_one",
     {"shop/views.py": "def orders(request):\n    for o in Order.objects.all():\n"
      "        Customer.objects.get(id=o.customer_id)\n"},
     {"shop/views.py": "def orders(request):\n"
      "    return Order.objects.select_related('customer').all()\n"}),
    ("env_undocumented",
     {".env.example": "DATABASE_URL=\n", "server.js": "const k = process.env.STRIPE_KEY;\n"},
     {".env.example": "DATABASE_URL=\nSTRIPE_KEY=\n", "server.js":
      "const k = process.env.STRIPE_KEY;\nconst e = process.env.NODE_ENV;\n"}),
    ("env_unvalidated",
     {"server.js": "const url = process.env.DATABASE_URL;\n"},
     {"server.js": "import { z } from 'zod';\n"
      "const env = z.object({ DATABASE_URL: z.string() }).parse(process.env);\n"}),
    ("service_key_in_frontend",
     {"lib/admin.ts": "const k = process.env.NEXT_PUBLIC_SUPABASE_SERVICE_ROLE_KEY;\n"},
     {"lib/admin.ts": "const k = process.env.SUPABASE_SERVICE_ROLE_KEY;\n"
      "const a = process.env.NEXT_PUBLIC_SUPABASE_ANON_KEY;\n"}),
    ("cors_wildcard_credentials_in_code",
     {"main.py": "app.add_middleware(CORSMiddleware, allow_origins=['*'], "
      "allow_credentials=True)\n"},
     {"main.py": "app.add_middleware(CORSMiddleware, allow_origins=['https://a.example'], "
      "allow_credentials=True)\n"}),
    ("cors_wildcard_credentials_in_code",
     {"server.js": "app.use(cors({ origin: '*', credentials: true }));\n"},
     {"server.js": "app.use(cors({ origin: '*' }));\n"}),
    ("error_stack_returned",
     {"server.js": "app.use((err, req, res, next) => {\n"
      "  res.status(500).json({ message: err.message, stack: err.stack });\n});\n"},
     {"server.js": "app.use((err, req, res, next) => {\n  logger.error(err.stack);\n"
      "  res.status(500).json({ stack: process.env.NODE_ENV === 'development' ? err.stack : "
      "undefined });\n});\n"}),
    ("error_stack_returned",
     {"main.py": "import traceback\n@app.exception_handler(Exception)\n"
      "async def h(request, exc):\n"
      "    return JSONResponse({'trace': traceback.format_exc()}, status_code=500)\n"},
     {"main.py": "import traceback\n@app.exception_handler(Exception)\n"
      "async def h(request, exc):\n    log.error(traceback.format_exc())\n"
      "    return JSONResponse({'error': 'internal'}, status_code=500)\n"}),
    ("migrations_missing",
     {"package.json": json.dumps({"dependencies": {"@prisma/client": "5"},
                                  "scripts": {"db": "prisma db push"}})},
     {"package.json": json.dumps({"dependencies": {"@prisma/client": "5"}}),
      "prisma/migrations/0001_init/migration.sql": "CREATE TABLE t (id int);\n"}),
]  # fmt: skip


@pytest.mark.parametrize(("check", "positive", "negative"), CASES, ids=[c[0] for c in CASES])
def test_check_fires_on_positive_and_not_on_look_alike(
    tmp_path: Path, check: str, positive: dict[str, str], negative: dict[str, str]
) -> None:
    assert findings(tmp_path / "pos", positive, check), f"{check} missed its positive case"
    assert findings(tmp_path / "neg", negative, check) == []


def test_service_role_key_in_client_component_is_critical_and_redacted(tmp_path: Path) -> None:
    files = {"package.json": PKG_NEXT,
             "src/app/page.tsx": f"'use client'\nconst key = '{SERVICE}'\n"}  # fmt: skip
    [found] = findings(tmp_path, files, "secret_in_frontend")
    assert found["severity"] == "critical" and found["file"] == "src/app/page.tsx"
    assert found["line"] == 2 and found["object"] == "src/app/page.tsx:2"
    assert SERVICE not in json.dumps(found) and found["evidence"]["preview"] == SERVICE[:4] + "…"


def test_console_logging_names_the_logger_the_project_uses(tmp_path: Path) -> None:
    files = {"package.json": PKG_EXPRESS, "src/server.js": "console.log('password', pw);\n"}
    [found] = findings(tmp_path, files, "console_logging_in_server")
    assert found["severity"] == "medium" and "pino" in str(found["fix"])


def test_env_findings_carry_the_variable_name(tmp_path: Path) -> None:
    [found] = findings(tmp_path, {"app.py": "import os\nK = os.getenv('API_TOKEN')\n"},
                       "env_undocumented")  # fmt: skip
    assert found["evidence"] == {"var": "API_TOKEN"} and found["line"] == 2


def test_map_async_over_rows_is_n_plus_one(tmp_path: Path) -> None:
    files = {"server.ts": "await Promise.all(rows.map(async (r) =>\n"
             "  supabase.from('items').select('id').eq('order_id', r.id)));\n"}  # fmt: skip
    [found] = findings(tmp_path, files, "n_plus_one")
    assert found["evidence"]["loop"] == ".map(async ...)" and found["line"] == 2


def test_baseline_suppresses_a_known_secret(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "app.py").write_text(f"KEY = '{LIVE}'\n")
    [found] = scan(tmp_path / "repo", workers=1).run.findings
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"fingerprints": [found.fingerprint]}))
    result = scan(tmp_path / "repo", baseline=baseline, workers=1)
    assert result.run.findings == [] and len(result.run.suppressed) == 1
    assert found.finding.severity == Severity.CRITICAL


def test_config_suppressions_apply_to_code_findings(tmp_path: Path) -> None:
    from prodready.model import Config

    (tmp_path / "app.py").write_text("print('x')\ncur.execute('SELECT * FROM t')\n")
    config = Config(suppressions={"select_star:app.py:*": "reporting table, all columns used"})
    result = scan(tmp_path, config=config, workers=1)
    assert [f.finding.check for f in result.run.findings] == ["console_logging_in_server"]
    assert [s.reason for s in result.run.suppressed] == ["reporting table, all columns used"]
