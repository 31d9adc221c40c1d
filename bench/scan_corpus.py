"""Source scan quality and speed on a planted corpus, next to detect-secrets (and semgrep).

    .venv/bin/python -m bench.scan_corpus [--repos 40] [--copies 6] [--semgrep PATH]

1. Builds, in a temp dir, `--repos` small repositories (Express, Next.js, FastAPI, Django
   shapes). Each plants cases with a known file and line: real-looking secrets (random key
   material in every provider's shape, in server code, browser code and a committed .env)
   and their look-alikes (documentation keys, placeholders, the Supabase anon key, Stripe
   test keys, hashes, UUIDs, env reads), hygiene positives for every check and their safe
   twins (parameterised queries, tagged templates, loops without queries, dev-only stacks,
   explicit CORS origins...). Files carry ordinary filler code so sizes look like real ones.
2. Scans every repository with `prodready scan` (in process) and scores secrets and
   hygiene separately: recall = planted positives found, precision = findings that are
   planted positives. detect-secrets 1.5 (`detect-secrets scan --all-files`, default
   plugins) is scored on the same secrets; semgrep too when given (`--semgrep` binary and
   rules that work offline).
3. Copies the corpus `--copies` times into one tree and times one scan of it (files/min,
   2 worker processes), and detect-secrets over the same tree.

Results go to bench/results/scan_corpus.{json,md}. No fake secret is committed: the corpus
exists only in the temp dir.
"""

# The corpus templates are data: their lines are as long as the code they imitate.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodready.code.scan import scan

RESULTS = Path(__file__).parent / "results"
SECRET_CHECKS = frozenset({"secret_in_source", "secret_in_frontend", "env_file_committed"})


@dataclass(frozen=True)
class Case:
    """One planted case: a file, and (for positives) the check and line it must raise."""

    family: str  # secrets, hygiene
    path: str
    text: str
    check: str | None  # None for a look-alike
    marker: str | None = None  # a substring of the line the finding must point at
    label: str = ""


@dataclass
class Repo:
    name: str
    files: dict[str, str] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    env_vars: set[str] = field(default_factory=set)
    expected_repo: list[tuple[str, str | None, int | None]] = field(default_factory=list)


# -- random key material --


def rand(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def jwt(claims: dict[str, Any], rng: random.Random) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{rand(rng, 43)}"


def real_secrets(rng: random.Random) -> list[tuple[str, str]]:
    """(label, a line holding a real-looking secret): every shape the scan should catch."""
    b64 = string.ascii_letters + string.digits + "+/"
    ref = rand(rng, 20, string.ascii_lowercase)
    service = jwt({"iss": "supabase", "ref": ref, "role": "service_role", "iat": 1700000000}, rng)
    return [
        ("stripe live", f"const stripe = new Stripe('sk_live_{rand(rng, 24)}');"),
        ("stripe restricted", f"const key = 'rk_live_{rand(rng, 24)}';"),
        ("aws key id", f"const accessKeyId = 'AKIA{rand(rng, 16, string.ascii_uppercase + '234567')}';"),
        ("aws secret", f"const aws_secret_access_key = '{rand(rng, 40, b64)}';"),
        ("github classic", f"const token = 'ghp_{rand(rng, 36)}';"),
        ("github fine-grained", f"const gh = 'github_pat_{rand(rng, 22)}_{rand(rng, 59)}';"),
        ("slack webhook", f"const hook = 'https://hooks.slack.com/services/T{rand(rng, 8).upper()}/B{rand(rng, 8).upper()}/{rand(rng, 24)}';"),
        ("openai", f"const openai = new OpenAI({{ apiKey: 'sk-proj-{rand(rng, 48)}' }});"),
        ("anthropic", f"const anthropic = 'sk-ant-api03-{rand(rng, 40)}';"),
        ("database url", f"const db = 'postgres://app_user:{rand(rng, 18)}@db.prod.internal:5432/app';"),
        ("jwt secret", f"const JWT_SECRET = '{rand(rng, 32)}';"),
        ("supabase service_role", f"const supabaseAdmin = createClient(url, '{service}');"),
        ("sendgrid", f"const sg = 'SG.{rand(rng, 22)}.{rand(rng, 43)}';"),
        ("private key", "const pem = `-----BEGIN RSA PRIVATE KEY-----"),  # prodready: allow-secret
    ]  # fmt: skip


def look_alikes(rng: random.Random) -> list[tuple[str, str]]:
    """(label, a line that only looks like a secret)."""
    anon = jwt(
        {"iss": "supabase", "ref": rand(rng, 20, string.ascii_lowercase), "role": "anon"}, rng
    )
    hexdigits = "0123456789abcdef"
    return [
        ("aws docs key", "const accessKeyId = 'AKIAIOSFODNN7EXAMPLE';"),
        ("aws docs secret", "const aws_secret_access_key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';"),
        ("supabase anon", f"const supabase = createClient(url, '{anon}');"),
        ("stripe test", f"const stripe = new Stripe('sk_test_{rand(rng, 24)}');"),
        ("stripe placeholder", "const stripe = new Stripe('sk_live_xxxxxxxxxxxxxxxxxxxxxxxx');"),
        ("env read", "const stripe = new Stripe(process.env.STRIPE_SECRET_KEY);"),
        ("template", "const url = `postgres://app:${process.env.PGPASSWORD}@db/app`;"),
        ("local dev url", "const url = 'postgres://postgres:postgres@localhost:5432/app';"),
        ("placeholder", "const openai = new OpenAI({ apiKey: 'your-api-key-here' });"),
        ("angle placeholder", "const token = '<YOUR_GITHUB_TOKEN>';"),
        ("uuid", f"const id = '{rand(rng, 8, hexdigits)}-{rand(rng, 4, hexdigits)}-4{rand(rng, 3, hexdigits)}-a{rand(rng, 3, hexdigits)}-{rand(rng, 12, hexdigits)}';"),
        ("sha256", f"const checksum = '{rand(rng, 64, hexdigits)}';"),
        ("git sha", f"const commit = '{rand(rng, 40, hexdigits)}';"),
        ("integrity", f"const integrity = 'sha512-{rand(rng, 86)}==';"),
        ("publishable", f"const pk = 'pk_live_{rand(rng, 24)}';"),
        ("jwt secret from env", "const JWT_SECRET = process.env.JWT_SECRET;"),
    ]  # fmt: skip


# -- filler: ordinary code with nothing to find, so files have realistic sizes --

JS_FILLER = """
export function formatPrice(cents, currency = 'EUR') {
  const amount = (cents / 100).toFixed(2);
  return `${amount} ${currency}`;
}

export function slugify(text) {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/(^-|-$)/g, '');
}

export function paginate(items, page = 1, size = 20) {
  const start = (page - 1) * size;
  return { items: items.slice(start, start + size), page, pages: Math.ceil(items.length / size) };
}

export function groupBy(items, key) {
  const out = {};
  for (const item of items) {
    const k = item[key];
    (out[k] ||= []).push(item);
  }
  return out;
}

export class RetryPolicy {
  constructor(attempts = 3, baseMs = 100) {
    this.attempts = attempts;
    this.baseMs = baseMs;
  }

  delay(attempt) {
    return Math.min(this.baseMs * 2 ** attempt, 5000) + Math.random() * 50;
  }
}
"""
PY_FILLER = """

def format_price(cents: int, currency: str = "EUR") -> str:
    return f"{cents / 100:.2f} {currency}"


def slugify(text: str) -> str:
    out = []
    for ch in text.lower():
        out.append(ch if ch.isalnum() else "-")
    return "".join(out).strip("-")


def paginate(items: list, page: int = 1, size: int = 20) -> dict:
    start = (page - 1) * size
    return {"items": items[start : start + size], "page": page}


class RetryPolicy:
    def __init__(self, attempts: int = 3, base_ms: int = 100) -> None:
        self.attempts = attempts
        self.base_ms = base_ms

    def delay(self, attempt: int) -> float:
        return min(self.base_ms * 2**attempt, 5000) / 1000
"""


def js(body: str) -> str:
    return body.strip("\n") + "\n" + JS_FILLER


def py(body: str) -> str:
    return body.strip("\n") + "\n" + PY_FILLER


# -- hygiene templates: (check or None, path, text, marker) --

HygieneFn = Callable[[random.Random, int], list[tuple[str | None, str, str, str | None]]]


def hygiene_cases(rng: random.Random, n: int) -> list[tuple[str | None, str, str, str | None]]:
    t = f"t{n}"
    return [
        # console logging
        ("console_logging_in_server", f"src/routes/login{n}.js", js("""
import express from 'express';
export const router = express.Router();
router.post('/login', async (req, res) => {
  console.log('login attempt', req.body);
  res.json({ ok: true });
});
"""), "console.log"),
        ("console_logging_in_server", f"app/worker{n}.py", py("""
def handle(job):
    print("processing", job.id)
    return job
"""), "print("),
        (None, f"src/routes/health{n}.js", js("""
import pino from 'pino';
const logger = pino();
export function health(req, res) {
  logger.info({ path: req.path }, 'health');
  res.json({ ok: true });
}
"""), None),
        (None, f"tests/routes{n}.test.js", js("console.log('debug output in a test');"), None),
        (None, f"scripts/seed{n}.js", js("console.log('seeded');"), None),
        # SQL built from input
        ("sql_string_built", f"src/routes/users{n}.js", js(f"""
export async function getUser(req, res) {{
  const result = await pool.query("SELECT id, name FROM {t} WHERE id = '" + req.params.id + "'");
  res.json(result.rows);
}}
"""), "pool.query("),
        ("sql_string_built", f"src/routes/search{n}.ts", js(f"""
export async function search(req: any, res: any) {{
  const rows = await db.query(`SELECT id, title FROM {t} WHERE title ILIKE '%${{req.query.q}}%'`);
  res.json(rows);
}}
"""), "db.query("),
        ("sql_string_built", f"api/orders{n}.py", py(f"""
def orders(cursor, user_id):
    cursor.execute(f"SELECT id, total FROM {t} WHERE user_id = {{user_id}}")
    return cursor.fetchall()
"""), "cursor.execute("),
        ("sql_string_built", f"api/report{n}.py", py(f"""
def report(cursor, day):
    query = "SELECT id, total FROM {t} WHERE day = '%s'" % day
    cursor.execute(query)
    return cursor.fetchall()
"""), "cursor.execute("),
        (None, f"src/routes/safe{n}.js", js(f"""
export async function getUser(req, res) {{
  const result = await pool.query('SELECT id, name FROM {t} WHERE id = $1', [req.params.id]);
  const rows = await sql`SELECT id FROM {t} WHERE owner = ${{req.user.id}}`;
  const all = await pool.query(`SELECT id FROM ${{TABLE}} LIMIT 10`);
  res.json({{ result, rows, all }});
}}
"""), None),
        (None, f"api/safe{n}.py", py(f"""
from psycopg import sql


def orders(cursor, user_id, column):
    cursor.execute("SELECT id, total FROM {t} WHERE user_id = %s", (user_id,))
    cursor.execute(sql.SQL("SELECT {{}} FROM {t}").format(sql.Identifier(column)))
    return cursor.fetchall()
"""), None),
        # SELECT *
        ("select_star", f"src/routes/list{n}.js", js(f"""
export async function list(req, res) {{
  const result = await pool.query('SELECT * FROM {t} WHERE owner = $1', [req.user.id]);
  res.json(result.rows);
}}
"""), "SELECT *"),
        ("select_star", f"src/lib/items{n}.ts", js(f"""
export async function items(owner: string) {{
  return supabase.from('{t}').select('*').eq('owner', owner);
}}
"""), "select('*')"),
        (None, f"src/lib/count{n}.ts", js(f"""
export async function count(owner: string) {{
  const total = await pool.query('SELECT count(*) FROM {t} WHERE owner = $1', [owner]);
  const some = await supabase.from('{t}').select('id, title').eq('owner', owner);
  return {{ total, some }};
}}
"""), None),
        # N+1
        ("n_plus_one", f"src/routes/orders{n}.js", js(f"""
export async function orders(req, res) {{
  const orders = await pool.query('SELECT id FROM {t} WHERE buyer = $1', [req.user.id]);
  for (const order of orders.rows) {{
    order.items = await pool.query('SELECT id FROM items WHERE order_id = $1', [order.id]);
  }}
  res.json(orders.rows);
}}
"""), "order.items = await"),
        ("n_plus_one", f"src/lib/enrich{n}.ts", js("""
export async function enrich(posts: { authorId: string }[]) {
  return Promise.all(posts.map(async (post) => {
    const author = await prisma.user.findUnique({ where: { id: post.authorId } });
    return { ...post, author };
  }));
}
"""), "prisma.user.findUnique"),
        ("n_plus_one", f"shop/views{n}.py", py("""
def order_list(request):
    out = []
    for order in Order.objects.filter(buyer=request.user):
        out.append(Customer.objects.get(pk=order.customer_id))
    return out
"""), "Customer.objects.get"),
        (None, f"src/lib/batch{n}.ts", js("""
export async function enrich(posts: { authorId: string }[]) {
  const ids = posts.map((p) => p.authorId);
  const authors = await prisma.user.findMany({ where: { id: { in: ids } } });
  const byId = new Map(authors.map((a) => [a.id, a]));
  return posts.map((p) => ({ ...p, author: byId.get(p.authorId) }));
}
"""), None),
        (None, f"shop/batch{n}.py", py("""
def order_list(request):
    orders = Order.objects.select_related("customer").filter(buyer=request.user)
    return [order.customer for order in orders]
"""), None),
        # CORS
        ("cors_wildcard_credentials_in_code", f"src/server{n}.js", js("""
import cors from 'cors';
app.use(cors({ origin: true, credentials: true }));
"""), "origin: true"),
        ("cors_wildcard_credentials_in_code", f"service/main{n}.py", py("""
from fastapi.middleware.cors import CORSMiddleware
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True)
"""), "add_middleware"),
        (None, f"src/cors{n}.js", js("""
import cors from 'cors';
app.use(cors({ origin: ['https://app.example.com'], credentials: true }));
app.use(cors({ origin: '*' }));
"""), None),
        # stacks
        ("error_stack_returned", f"src/errors{n}.js", js("""
export function onError(err, req, res, next) {
  res.status(500).json({ message: err.message, stack: err.stack });
}
"""), "err.stack"),
        ("error_stack_returned", f"service/errors{n}.py", py("""
import traceback


async def on_error(request, exc):
    return JSONResponse({"detail": traceback.format_exc()}, status_code=500)
"""), "traceback.format_exc"),
        (None, f"src/safe_errors{n}.js", js("""
export function onError(err, req, res, next) {
  logger.error({ err }, err.stack);
  const body = { message: 'internal error' };
  if (process.env.NODE_ENV === 'development') body.stack = err.stack;
  res.status(500).json({ message: 'internal error', stack: process.env.NODE_ENV === 'development' ? err.stack : undefined });
}
"""), None),
        # service key in frontend
        ("service_key_in_frontend", f"src/lib/admin{n}.ts", js("""
export const admin = createClient(process.env.NEXT_PUBLIC_SUPABASE_URL, process.env.NEXT_PUBLIC_SUPABASE_SERVICE_ROLE_KEY);
"""), "NEXT_PUBLIC_SUPABASE_SERVICE_ROLE_KEY"),
        (None, f"src/lib/public{n}.ts", js("""
export const client = createClient(process.env.NEXT_PUBLIC_SUPABASE_URL, process.env.NEXT_PUBLIC_SUPABASE_ANON_KEY);
export const admin = createClient(process.env.NEXT_PUBLIC_SUPABASE_URL, process.env.SUPABASE_SERVICE_ROLE_KEY);
"""), None),
    ]  # fmt: skip


def more_hygiene_cases(rng: random.Random, n: int) -> list[tuple[str | None, str, str, str | None]]:
    """Second shapes per check: other libraries, other spellings, other traps."""
    t = f"u{n}"
    return [
        ("console_logging_in_server", f"src/services/billing{n}.ts", js("""
export async function charge(user: { email: string }, token: string) {
  console.info(`charging ${user.email} with token ${token}`);
}
"""), "console.info"),
        ("console_logging_in_server", f"service/tasks{n}.py", py("""
def sync(password):
    print(f"syncing with password={password}")
"""), "print("),
        (None, f"service/quiet{n}.py", py("""
import logging

log = logging.getLogger(__name__)


def sync(items):
    log.info("syncing %d items", len(items))
"""), None),
        (None, f"src/app/dashboard/Widget{n}.tsx", js("""
'use client'
export function Widget() {
  console.log('rendered in the browser');
  return null;
}
"""), None),
        ("sql_string_built", f"src/repo/users{n}.js", js("""
export async function byName(knex, name) {
  return knex('users').whereRaw("name = '" + name + "'").first();
}
"""), "whereRaw"),
        ("sql_string_built", f"shop/raw{n}.py", py(f"""
def search(term):
    return Product.objects.raw("SELECT id, name FROM {t} WHERE name LIKE '%{{}}%'".format(term))
"""), "objects.raw"),
        ("sql_string_built", f"service/sa{n}.py", py(f"""
from sqlalchemy import text


def by_email(session, email):
    return session.execute(text(f"SELECT id FROM {t} WHERE email = '{{email}}'"))
"""), "session.execute"),
        (None, f"service/sa_safe{n}.py", py(f"""
from sqlalchemy import text


def by_email(session, email, log):
    log.info(f"SELECT id FROM {t} WHERE email = '{{email}}'")
    return session.execute(text("SELECT id FROM {t} WHERE email = :email"), {{"email": email}})
"""), None),
        (None, f"src/repo/safe_users{n}.ts", js(f"""
export async function byId(prisma: any, id: string) {{
  const a = await prisma.$queryRaw`SELECT id FROM {t} WHERE id = ${{id}}`;
  const b = await pool.query({{ text: 'SELECT id FROM {t} WHERE id = $1', values: [id] }});
  const c = await pool.query('SELECT id ' + 'FROM {t} LIMIT 1');
  return [a, b, c];
}}
"""), None),
        ("select_star", f"service/report{n}.py", py(f"""
from sqlalchemy import text


def everything(session):
    return session.execute(text("SELECT * FROM {t}")).all()
"""), "SELECT *"),
        (None, f"service/report_safe{n}.py", py(f"""
# SELECT * FROM {t} was too slow, so we name the columns
def totals(cur):
    cur.execute("SELECT id, total FROM {t}")
    return cur.fetchall()
"""), None),
        ("n_plus_one", f"src/jobs/notify{n}.js", js("""
export async function notify(client, ids) {
  let i = 0;
  while (i < ids.length) {
    await client.query('UPDATE users SET notified = true WHERE id = $1', [ids[i]]);
    i += 1;
  }
}
"""), "client.query"),
        ("n_plus_one", f"service/asyncpg{n}.py", py("""
async def load(conn, ids):
    out = []
    for i in ids:
        out.append(await conn.fetchrow("SELECT id FROM users WHERE id = $1", i))
    return out
"""), "conn.fetchrow"),
        ("n_plus_one", f"src/jobs/tags{n}.ts", js("""
export async function tag(items: { id: string }[]) {
  items.forEach(async (item) => {
    await db.insert(tags).values({ itemId: item.id });
  });
}
"""), "db.insert"),
        (None, f"src/jobs/batch{n}.js", js("""
export async function notify(pool, ids) {
  const params = [];
  for (const id of ids) params.push(Number(id));
  await pool.query('UPDATE users SET notified = true WHERE id = ANY($1)', [params]);
  for (const row of (await pool.query('SELECT id FROM users')).rows) {
    cache.set(row.id, row);
    await redis.get(row.id);
  }
}
"""), None),
        (None, f"service/http_loop{n}.py", py("""
import httpx

client = httpx.Client()


def fetch_all(urls, cache):
    return [client.get(url) for url in urls] + [cache.get(u) for u in urls]
"""), None),
        ("cors_wildcard_credentials_in_code", f"src/cors_manual{n}.js", js("""
export function corsHeaders(req, res, next) {
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin);
  res.setHeader('Access-Control-Allow-Credentials', 'true');
  next();
}
"""), "Access-Control-Allow-Origin"),
        ("cors_wildcard_credentials_in_code", f"flaskapp/app{n}.py", py("""
from flask import Flask
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True)
"""), "CORS(app"),
        (None, f"flaskapp/strict{n}.py", py("""
from flask_cors import CORS

CORS(app, origins=["https://app.example.com"], supports_credentials=True)
"""), None),
        ("error_stack_returned", f"src/koa{n}.js", js("""
export async function errors(ctx, next) {
  try {
    await next();
  } catch (err) {
    ctx.body = { error: err.message, stack: err.stack };
  }
}
"""), "stack: err.stack"),
        ("error_stack_returned", f"flaskapp/errors{n}.py", py("""
import traceback


@app.errorhandler(Exception)
def on_error(e):
    return jsonify(error=str(e), trace=traceback.format_exc()), 500
"""), "traceback.format_exc"),
        (None, f"flaskapp/errors_dev{n}.py", py("""
import traceback


@app.errorhandler(Exception)
def on_error(e):
    if app.config["DEBUG"]:
        return jsonify(trace=traceback.format_exc()), 500
    app.logger.exception("failed")
    return jsonify(error="internal"), 500
"""), None),
        ("service_key_in_frontend", f"src/vite/admin{n}.ts", js("""
export const key = import.meta.env.VITE_SUPABASE_SERVICE_ROLE_KEY;
"""), "VITE_SUPABASE_SERVICE_ROLE_KEY"),
        (None, f"src/vite/public{n}.ts", js("""
export const key = import.meta.env.VITE_SUPABASE_ANON_KEY;
"""), None),
    ]  # fmt: skip


def more_secrets(rng: random.Random) -> list[tuple[str, str, str | None]]:
    """(path, text, marker or None for a look-alike): secrets outside JS source files."""
    pw = rand(rng, 18)
    return [
        ("docker-compose.yml", f"services:\n  api:\n    environment:\n      DATABASE_URL: postgres://api:{pw}@db:5432/api\n", "DATABASE_URL"),
        ("config/settings.py", py(f"SECRET_KEY = 'django-insecure-{rand(rng, 40, string.ascii_lowercase + string.digits + '!@#%^&*(-_=+)')}'"), "SECRET_KEY"),
        ("deploy/release.sh", f"#!/bin/sh\nexport GITHUB_TOKEN=ghp_{rand(rng, 36)}\ngh release create v1\n", "GITHUB_TOKEN"),
        ("config/ai.json", json.dumps({"provider": "openai", "apiKey": f"sk-proj-{rand(rng, 48)}"}, indent=2), "apiKey"),
        ("service/ai.py", py(f"import openai\n\nopenai.api_key = 'sk-proj-{rand(rng, 48)}'"), "openai.api_key"),
        ("config/settings_env.py", py("import os\n\nSECRET_KEY = os.environ['SECRET_KEY']"), None),
        ("config/assets.json", json.dumps({"main.js": {"integrity": f"sha384-{rand(rng, 64)}"}}, indent=2), None),
        ("src/styles/logo.css", f".logo {{ background: url(data:image/png;base64,{rand(rng, 120)}); }}\n", None),
        ("config/stripe.py", py(f"stripe_secret_key = 'sk_test_{rand(rng, 24)}'"), None),
    ]  # fmt: skip


# -- building the corpus --

ENV_EXAMPLE = (
    "DATABASE_URL=\nPORT=\nSTRIPE_SECRET_KEY=\nPGPASSWORD=\nJWT_SECRET=\nNEXT_PUBLIC_SUPABASE_URL=\n"
    "NEXT_PUBLIC_SUPABASE_ANON_KEY=\nSUPABASE_SERVICE_ROLE_KEY=\nSECRET_KEY=\nVITE_SUPABASE_ANON_KEY=\n"
    "NEXT_PUBLIC_SUPABASE_SERVICE_ROLE_KEY=\nVITE_SUPABASE_SERVICE_ROLE_KEY=\n"
)


def build_repo(rng: random.Random, n: int) -> Repo:
    repo = Repo(f"repo{n:03d}")
    kind = n % 4  # 0 express, 1 next, 2 fastapi, 3 django
    deps = {"express": "4", "pg": "8", "pino": "9", "cors": "2", "zod": "3"}
    if kind == 1:
        deps = {"next": "14", "@supabase/supabase-js": "2", "@prisma/client": "5", "zod": "3"}
    repo.files["package.json"] = json.dumps({"dependencies": deps}, indent=2)
    if kind >= 2:
        repo.files["requirements.txt"] = "fastapi\npydantic-settings\npsycopg[binary]\ndjango\n"
    repo.files["migrations/0001_init.sql"] = "CREATE TABLE t (id bigint PRIMARY KEY);\n"
    repo.files["src/env.js"] = (
        "import { z } from 'zod';\nexport const env = z.object({}).passthrough().parse(process.env);\n"
    )
    # secrets: every shape in server code, a few in browser code, plus look-alikes
    for i, (label, line) in enumerate(real_secrets(rng)):
        path = f"src/config/{label.replace(' ', '_')}_{i}.js"
        repo.cases.append(
            Case(
                "secrets",
                path,
                js(line + ("\n...`;" if "BEGIN" in line else "")),
                "secret",
                line[:30],
                label,
            )
        )
    for i, (label, line) in enumerate(look_alikes(rng)):
        path = f"src/config/lookalike_{label.replace(' ', '_')}_{i}.js"
        repo.cases.append(Case("secrets", path, js(line), None, None, label))
    service = real_secrets(rng)[11][1]
    if kind == 1:
        text = "'use client'\n" + service + "\n"
        repo.cases.append(
            Case(
                "secrets",
                "src/components/Admin.tsx",
                js(text),
                "secret",
                "createClient",
                "service_role in client component",
            )
        )
    else:
        repo.cases.append(
            Case(
                "secrets",
                "public/config.js",
                js(real_secrets(rng)[0][1]),
                "secret",
                "new Stripe",
                "stripe key in public/",
            )
        )
    repo.cases.append(
        Case(
            "secrets",
            ".env",
            f"DATABASE_URL=postgres://app:{rand(rng, 16)}@db/app\nPORT=3000\n",
            "secret",
            None,
            ".env committed",
        )
    )
    repo.cases.append(
        Case("secrets", ".env.example", ENV_EXAMPLE, None, None, ".env.example empty")
    )
    # the example documents a public service-role variable: that line is a finding too
    lines = ENV_EXAMPLE.splitlines()
    for name in ("NEXT_PUBLIC_SUPABASE_SERVICE_ROLE_KEY", "VITE_SUPABASE_SERVICE_ROLE_KEY"):
        repo.expected_repo.append(
            ("service_key_in_frontend", ".env.example", lines.index(f"{name}=") + 1)
        )
    repo.cases.append(
        Case(
            "secrets",
            "docs/setup.md",
            "Set `OPENAI_API_KEY=sk-proj-...` and `AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE`.\n",
            None,
            None,
            "docs",
        )
    )
    for path, text, marker in more_secrets(rng):
        repo.cases.append(Case("secrets", path, text, "secret" if marker else None, marker, path))
    # hygiene
    for check, path, text, marker in hygiene_cases(rng, n) + more_hygiene_cases(rng, n):
        repo.cases.append(Case("hygiene", path, text, check, marker, check or "safe"))
    # env: one undocumented variable, everything else documented
    undocumented = f"FEATURE_FLAG_{n}"
    repo.cases.append(
        Case(
            "hygiene",
            f"src/flags{n}.js",
            js(f"export const flag = process.env.{undocumented} === 'on';"),
            "env_undocumented",
            undocumented,
            "env_undocumented",
        )
    )
    repo.cases.append(
        Case(
            "hygiene",
            f"src/documented{n}.js",
            js("export const port = Number(process.env.PORT || 3000);"),
            None,
            None,
            "env documented",
        )
    )
    for case in repo.cases:
        repo.files[case.path] = case.text
    return repo


def build_repo_level(rng: random.Random, n: int) -> Repo:
    """Repositories for the repo-level checks: unvalidated env, schema pushed without migrations."""
    repo = Repo(f"repolevel{n:03d}")
    positive = n % 2 == 0
    scripts = {"db:push": "prisma db push"} if positive else {"db:migrate": "prisma migrate deploy"}
    deps = {"@prisma/client": "5", "express": "4"} | ({} if positive else {"envalid": "8"})
    repo.files["package.json"] = json.dumps({"dependencies": deps, "scripts": scripts})
    repo.files[".env.example"] = "DATABASE_URL=\n"
    repo.files["src/db.js"] = js("export const url = process.env.DATABASE_URL;")
    if positive:
        repo.expected_repo += [
            ("migrations_missing", None, None),
            ("env_unvalidated", "src/db.js", 1),
        ]
    else:
        repo.files["prisma/migrations/0001_init/migration.sql"] = "CREATE TABLE t (id int);\n"
    return repo


def write_repo(root: Path, repo: Repo) -> None:
    for name, text in repo.files.items():
        path = root / repo.name / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def expected(
    repo: Repo,
) -> tuple[set[tuple[str, int | None]], set[tuple[str, str | None, int | None]]]:
    """(secret positives as (path, line), hygiene positives as (check, path, line))."""
    secrets: set[tuple[str, int | None]] = set()
    hygiene: set[tuple[str, str | None, int | None]] = set(repo.expected_repo)
    for case in repo.cases:
        if case.check is None:
            continue
        line = _line_of(case.text, case.marker) if case.marker else None
        if case.family == "secrets":
            secrets.add((case.path, line))
        else:
            hygiene.add((case.check, case.path, line))
    return secrets, hygiene


def _line_of(text: str, marker: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            return number
    raise ValueError(f"marker {marker!r} not in case text")


# -- scoring --


@dataclass
class Score:
    planted: int = 0
    found: int = 0  # planted positives found
    reported: int = 0  # everything reported
    false: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        recall = self.found / self.planted if self.planted else 1.0
        true = self.reported - len(self.false)
        precision = true / self.reported if self.reported else 1.0
        return {
            "planted": self.planted, "found": self.found, "reported": self.reported,
            "recall": round(recall, 4), "precision": round(precision, 4),
            "false_positives": self.false[:20], "missed": self.missed[:20],
        }  # fmt: skip


def score_secrets(
    planted: set[tuple[str, int | None]], reported: set[tuple[str, int | None]], score: Score
) -> None:
    """A file-level case (line None) is matched by any report in that file, counted once."""
    score.planted += len(planted)
    file_level = {p for p, line in planted if line is None}
    matched: set[tuple[str, int | None]] = set()
    for path, line in reported:
        if (path, line) in planted:
            matched.add((path, line))
        elif path in file_level:
            if (path, None) in matched:
                continue  # a second line of the same .env is the same finding
            matched.add((path, None))
        else:
            score.false.append(f"{path}:{line}")
            score.reported += 1
            continue
        score.reported += 1
    score.found += len(matched)
    score.missed += [f"{p}:{n}" for p, n in sorted(planted - matched, key=str)]


def our_reports(
    root: Path,
) -> tuple[set[tuple[str, int | None]], set[tuple[str, str | None, int | None]]]:
    result = scan(root, workers=1)
    secrets: set[tuple[str, int | None]] = set()
    hygiene: set[tuple[str, str | None, int | None]] = set()
    for found in result.run.findings:
        if found.finding.check in SECRET_CHECKS:
            secrets.add((found.file or "", found.line))
        else:
            hygiene.add((found.finding.check, found.file, found.line))
    return secrets, hygiene


def detect_secrets_reports(root: Path) -> dict[str, set[tuple[str, int | None]]]:
    """detect-secrets' hits per repository, as (path, line)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "detect-secrets"), "scan", "--all-files", str(root)],
        capture_output=True, text=True, check=True, cwd=root,
    )  # fmt: skip
    out: dict[str, set[tuple[str, int | None]]] = {}
    for filename, hits in json.loads(done.stdout)["results"].items():
        rel = Path(os.path.relpath(Path(root, filename), root)).as_posix()
        repo, _, path = rel.partition("/")
        for hit in hits:
            out.setdefault(repo, set()).add((path, int(hit["line_number"])))
    return out


SEMGREP_SQL_RULES = (
    "javascript/lang/security/audit/sqli",
    "javascript/express/security/injection/tainted-sql-string.yaml",
    "python/django/security/injection/sql",
    "python/django/security/injection/tainted-sql-string.yaml",
    "python/flask/security/injection/tainted-sql-string.yaml",
    "python/lang/security/audit/formatted-sql-query.yaml",
    "python/lang/security/audit/sqli",
    "python/sqlalchemy/security",
)


def semgrep_reports(
    binary: str, configs: list[Path], root: Path
) -> dict[str, set[tuple[str, int | None]]]:
    """semgrep's hits per repository, as (path, line), with the given rule files."""
    cmd = [binary, "scan", "--json", "--metrics=off", "--disable-version-check",
           "--no-git-ignore", "-j", "2", "--quiet"]  # fmt: skip
    for config in configs:
        cmd += ["--config", str(config)]
    done = subprocess.run([*cmd, "."], capture_output=True, text=True, cwd=root, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"semgrep failed: {done.stderr[-500:]}")
    out: dict[str, set[tuple[str, int | None]]] = {}
    for hit in json.loads(done.stdout)["results"]:
        repo, _, path = Path(hit["path"]).as_posix().partition("/")
        out.setdefault(repo, set()).add((path, int(hit["start"]["line"])))
    return out


def score_files(planted: set[str], negatives: set[str], reported: set[str], score: Score) -> None:
    """File-level scoring: a planted file is found by any hit in it; a look-alike file with a
    hit is a false positive (other files are out of scope for this comparison)."""
    score.planted += len(planted)
    score.found += len(planted & reported)
    score.reported += len(reported & (planted | negatives))
    score.false += sorted(reported & negatives)
    score.missed += sorted(planted - reported)


# semgrep-rules' own annotated test files for SQL injection: `ruleid:` marks the next line as
# a finding, `ok:` as none. Written by semgrep's authors, not by us: an independent check.
SEMGREP_SQL_TESTS = (
    "javascript/lang/security/audit/sqli/node-knex-sqli.js",
    "javascript/lang/security/audit/sqli/node-mssql-sqli.js",
    "javascript/lang/security/audit/sqli/node-mysql-sqli.js",
    "javascript/lang/security/audit/sqli/node-postgres-sqli.js",
    "javascript/express/security/injection/tainted-sql-string.js",
    "python/django/security/injection/sql/sql-injection-extra.py",
    "python/django/security/injection/sql/sql-injection-rawsql.py",
    "python/django/security/injection/sql/sql-injection-using-db-cursor-execute.py",
    "python/django/security/injection/sql/sql-injection-using-raw.py",
    "python/django/security/injection/tainted-sql-string.py",
    "python/flask/security/injection/tainted-sql-string.py",
    "python/lang/security/audit/sqli/aiopg-sqli.py",
    "python/lang/security/audit/sqli/asyncpg-sqli.py",
    "python/lang/security/audit/sqli/pg8000-sqli.py",
    "python/lang/security/audit/sqli/psycopg-sqli.py",
    "python/lang/security/audit/formatted-sql-query.py",
    "python/sqlalchemy/security/sqlalchemy-execute-raw-query.py",
    "python/sqlalchemy/security/sqlalchemy-sql-injection.py",
)
_ANNOTATION = re.compile(r"(?:#|//)\s*(ruleid|ok|todoruleid|todook)\s*:")


def measure_semgrep_tests(rules: Path, tmp: Path) -> dict[str, Any]:
    """sql_string_built on semgrep-rules' annotated SQL-injection tests (line level)."""
    root = tmp / "semgrep-tests"
    positives: set[tuple[str, int]] = set()
    negatives: set[tuple[str, int]] = set()
    for rel in SEMGREP_SQL_TESTS:
        source = rules / rel
        if not source.exists():
            continue
        name = rel.replace("/", "__")
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        (root / name).write_text(text)
        lines = text.splitlines()
        for number, line in enumerate(lines, start=1):
            match = _ANNOTATION.search(line)
            if match is None or number >= len(lines):
                continue
            target = number + 1
            # the annotated statement starts on the next non-comment line
            while target <= len(lines) and _ANNOTATION.search(lines[target - 1]):
                target += 1
            kind = match.group(1)
            (positives if kind in ("ruleid", "todook") else negatives).add((name, target))
    result = scan(root, workers=1)
    reported = [
        (f.file or "", f.line or 0)
        for f in result.run.findings
        if f.finding.check == "sql_string_built"
    ]
    # semgrep annotates the line its match starts on, which may be the argument of a call
    # spanning lines or the statement that reads the input: a report belongs to the nearest
    # annotation of its file within 3 lines.
    annotated = {**{k: True for k in positives}, **{k: False for k in negatives}}
    found: set[tuple[str, int]] = set()
    false: set[tuple[str, int]] = set()
    others = 0
    for path, line in reported:
        near = [(abs(t - line), t) for (p, t) in annotated if p == path and abs(t - line) <= 3]
        if not near:
            others += 1
            continue
        target = (path, min(near)[1])
        (found if annotated[target] else false).add(target)
    return {
        "files": len(SEMGREP_SQL_TESTS), "positives": len(positives), "negatives": len(negatives),
        "found": len(found), "false_positives": len(false), "unannotated_reports": others,
        "recall": round(len(found) / len(positives), 4) if positives else 1.0,
        "precision": round(len(found) / (len(found) + len(false)), 4) if found or false else 1.0,
        "missed": sorted(f"{p}:{n}" for p, n in positives - found)[:60],
        "false": sorted(f"{p}:{n}" for p, n in false),
    }  # fmt: skip


# -- the run --


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=40)
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--semgrep", help="a semgrep binary (PyPI `semgrep`), to score it too")
    parser.add_argument(
        "--semgrep-rules", type=Path, help="a checkout of github.com/semgrep/semgrep-rules"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    repos = [build_repo(rng, n) for n in range(args.repos)]
    repos += [build_repo_level(rng, n) for n in range(max(4, args.repos // 6))]
    with tempfile.TemporaryDirectory(prefix="prodready-scan-corpus-") as tmp:
        root = Path(tmp) / "corpus"
        for repo in repos:
            write_repo(root, repo)
        quality = measure_quality(root, repos)
        if args.semgrep and args.semgrep_rules:
            quality["semgrep"] = measure_semgrep(args.semgrep, args.semgrep_rules, root, repos)
        if args.semgrep_rules:
            quality["semgrep_sql_tests"] = measure_semgrep_tests(args.semgrep_rules, Path(tmp))
        speed = measure_speed(Path(tmp), root, args.copies)
    files = sum(len(r.files) for r in repos)
    data = {
        "corpus": {"repos": len(repos), "files": files, "seed": args.seed},
        **quality,
        "speed": speed,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scan_corpus.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / "scan_corpus.md").write_text(markdown(data))
    print(markdown(data))


def measure_quality(root: Path, repos: list[Repo]) -> dict[str, Any]:
    ours_secrets, ours_hygiene, theirs = Score(), Score(), Score()
    per_check: dict[str, Score] = {}
    ds = detect_secrets_reports(root)
    for repo in repos:
        want_secrets, want_hygiene = expected(repo)
        got_secrets, got_hygiene = our_reports(root / repo.name)
        score_secrets(want_secrets, got_secrets, ours_secrets)
        score_secrets(want_secrets, ds.get(repo.name, set()), theirs)
        ours_hygiene.planted += len(want_hygiene)
        ours_hygiene.reported += len(got_hygiene)
        ours_hygiene.found += len(want_hygiene & got_hygiene)
        ours_hygiene.false += [
            f"{repo.name}: {c} {p}:{n}" for c, p, n in sorted(got_hygiene - want_hygiene, key=str)
        ]
        ours_hygiene.missed += [
            f"{repo.name}: {c} {p}:{n}" for c, p, n in sorted(want_hygiene - got_hygiene, key=str)
        ]
        for check, path, line in want_hygiene | got_hygiene:
            s = per_check.setdefault(check, Score())
            s.planted += (check, path, line) in want_hygiene
            s.reported += (check, path, line) in got_hygiene
            s.found += (check, path, line) in want_hygiene and (check, path, line) in got_hygiene
            if (check, path, line) not in want_hygiene:
                s.false.append(f"{path}:{line}")
    return {
        "secrets": {"prodready": ours_secrets.to_json(), "detect_secrets": theirs.to_json()},
        "hygiene": {"prodready": ours_hygiene.to_json(),
                    "per_check": {k: v.to_json() for k, v in sorted(per_check.items())}},
    }  # fmt: skip


def measure_semgrep(binary: str, rules: Path, root: Path, repos: list[Repo]) -> dict[str, Any]:
    """semgrep's community rules on the same corpus: generic/secrets for secrets, its
    SQL-injection rules for sql_string_built (file-level, next to ours file-level)."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    started = time.perf_counter()
    secrets_hits = semgrep_reports(binary, [rules / "generic/secrets"], root)
    secrets_s = time.perf_counter() - started
    sql_hits = semgrep_reports(binary, [rules / r for r in SEMGREP_SQL_RULES], root)
    secrets, theirs_sql, ours_sql = Score(), Score(), Score()
    for repo in repos:
        want_secrets, want_hygiene = expected(repo)
        score_secrets(want_secrets, secrets_hits.get(repo.name, set()), secrets)
        planted = {p for c, p, _ in want_hygiene if c == "sql_string_built" and p}
        negatives = {c.path for c in repo.cases if c.family == "hygiene" and c.check is None}
        negatives |= {
            c.path
            for c in repo.cases
            if c.family == "hygiene" and c.check not in (None, "sql_string_built")
        }
        theirs = {p for p, _ in sql_hits.get(repo.name, set())}
        _, got = our_reports(root / repo.name)
        ours = {p for c, p, _ in got if c == "sql_string_built" and p}
        score_files(planted, negatives, theirs, theirs_sql)
        score_files(planted, negatives, ours, ours_sql)
    return {
        "version": version.strip(), "rules": "semgrep-rules (generic/secrets; SQL: " + ", ".join(SEMGREP_SQL_RULES) + ")",
        "secrets": secrets.to_json(), "secrets_s": round(secrets_s, 1),
        "sql_files": {"semgrep": theirs_sql.to_json(), "prodready": ours_sql.to_json()},
    }  # fmt: skip


def measure_speed(tmp: Path, corpus: Path, copies: int) -> dict[str, Any]:
    big = tmp / "big"
    for i in range(copies):
        shutil.copytree(corpus, big / f"copy{i:02d}")
    files = sum(1 for _ in big.rglob("*") if _.is_file())
    best = min(_timed(lambda: scan(big)) for _ in range(3))
    ds_cmd = [str(Path(sys.executable).parent / "detect-secrets"), "scan", "--all-files", str(big)]
    ds = _timed(lambda: subprocess.run(ds_cmd, capture_output=True, check=True, cwd=big))
    return {
        "files": files, "cores": os.cpu_count(),
        "prodready_s": round(best, 2), "prodready_files_per_min": round(files / best * 60),
        "detect_secrets_s": round(ds, 2), "detect_secrets_files_per_min": round(files / ds * 60),
    }  # fmt: skip


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def markdown(data: dict[str, Any]) -> str:
    s, h, sp = data["secrets"], data["hygiene"], data["speed"]
    ours, ds = s["prodready"], s["detect_secrets"]
    lines = [
        "# Source scan on a planted corpus",
        "",
        f"{data['corpus']['repos']} repositories, {data['corpus']['files']} files (seed {data['corpus']['seed']}); "
        "`.venv/bin/python -m bench.scan_corpus --semgrep /path/to/semgrep --semgrep-rules "
        "/path/to/semgrep-rules` (semgrep 1.187 from PyPI, semgrep-rules at 157ae47; its "
        "registry is not reachable offline, so the rules come from the repository).",
        "",
        "The planted cases are written by the author of the checks (random key material and "
        "names, filler code for realistic sizes): 100% there means every planted shape is "
        "handled, not that real code is. The semgrep-rules test files further down are cases "
        "someone else wrote.",
        "",
        "| secrets | planted | found | reported | recall | precision |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| prodready scan | {ours['planted']} | {ours['found']} | {ours['reported']} | {ours['recall']:.1%} | {ours['precision']:.1%} |",
        f"| detect-secrets 1.5 (default plugins) | {ds['planted']} | {ds['found']} | {ds['reported']} | {ds['recall']:.1%} | {ds['precision']:.1%} |",
    ]
    sg = data.get("semgrep")
    if sg:
        v = sg["secrets"]
        lines.append(
            f"| semgrep {sg['version']} (semgrep-rules generic/secrets) | {v['planted']} | {v['found']} | {v['reported']} | {v['recall']:.1%} | {v['precision']:.1%} |"
        )
    lines += [
        "",
        "| hygiene check | planted | found | reported | recall | precision |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for check, v in h["per_check"].items():
        lines.append(
            f"| `{check}` | {v['planted']} | {v['found']} | {v['reported']} | {v['recall']:.1%} | {v['precision']:.1%} |"
        )
    t = h["prodready"]
    lines += [
        f"| **all hygiene** | {t['planted']} | {t['found']} | {t['reported']} | {t['recall']:.1%} | {t['precision']:.1%} |",
        "",
    ]
    if sg:
        ours_f, theirs_f = sg["sql_files"]["prodready"], sg["sql_files"]["semgrep"]
        lines += [
            "",
            "SQL built from input, per file (planted files vs. every hygiene file without that case):",
            "",
            "| sql_string_built, file level | planted | found | reported | recall | precision |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| prodready scan | {ours_f['planted']} | {ours_f['found']} | {ours_f['reported']} | {ours_f['recall']:.1%} | {ours_f['precision']:.1%} |",
            f"| semgrep (semgrep-rules SQL-injection rules) | {theirs_f['planted']} | {theirs_f['found']} | {theirs_f['reported']} | {theirs_f['recall']:.1%} | {theirs_f['precision']:.1%} |",
        ]
    st = data.get("semgrep_sql_tests")
    if st:
        lines += [
            "",
            f"Independent cases: semgrep-rules' own annotated SQL-injection tests ({st['files']} files, "
            f"{st['positives']} `ruleid:` lines, {st['negatives']} `ok:` lines; a report belongs to the "
            f"nearest annotation within 3 lines): prodready `sql_string_built` finds {st['found']} "
            f"(recall {st['recall']:.1%}) with {st['false_positives']} on `ok:` lines (precision "
            f"{st['precision']:.1%}). These files were also used to improve the check, so this is a "
            "development set, not a held-out one; the `ok:` lines it still flags are taint "
            "differences (a non-constant variable that semgrep knows is not request data).",
        ]
    lines += [
        "",
        f"Speed, one tree of {sp['files']:,} files on {sp['cores']} cores: prodready scan "
        f"{sp['prodready_s']} s ({sp['prodready_files_per_min']:,} files/min, best of 3, 2 worker processes); "
        f"detect-secrets {sp['detect_secrets_s']} s ({sp['detect_secrets_files_per_min']:,} files/min).",
    ]
    text = "\n".join(lines) + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


if __name__ == "__main__":
    main()
