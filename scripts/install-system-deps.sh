#!/usr/bin/env bash
# Installs the system packages prodready's demo and tests need: the PostgreSQL 15 server
# (usually present), HypoPG for hypothetical indexes, Chromium for the dashboard tests.
# Needs root for apt-get; without it, says what is missing and carries on (tests that need
# HypoPG or Chromium are then skipped).
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
packages=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  packages+=("postgresql-${PG_MAJOR}" "postgresql-contrib-${PG_MAJOR}")
fi
if [ ! -e "/usr/share/postgresql/${PG_MAJOR}/extension/hypopg.control" ]; then
  packages+=("postgresql-${PG_MAJOR}-hypopg")
fi
# headless Chromium drives the dashboard tests (serve/); they are skipped without it
if ! command -v chromium >/dev/null 2>&1; then
  packages+=("chromium" "chromium-driver")
fi
# wrk is the throughput ceiling in bench/load_throughput.py and bench/load_stall.py (no test needs it)
if ! command -v wrk >/dev/null 2>&1; then
  packages+=("wrk")
fi
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "note: missing system packages (${packages[*]}); run as root: apt-get install -y ${packages[*]}" >&2
  exit 0
fi
echo "installing system packages: ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${packages[@]}" >/dev/null
