#!/usr/bin/env bash
# Installs the npm packages of the test apps (tests/http_apps/express: Express, helmet, cors,
# express-rate-limit) from their lockfile. Without npm, says so and carries on (those tests
# are then skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
app=tests/http_apps/express
if ! command -v npm >/dev/null 2>&1; then
  echo "note: npm is missing; the Express probe tests will be skipped" >&2
  exit 0
fi
if [ "$app/node_modules/.package-lock.json" -nt "$app/package-lock.json" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error --prefix "$app" >/dev/null
