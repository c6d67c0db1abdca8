#!/usr/bin/env bash
# Install what the project needs on a fresh Debian machine: system packages for the local portal
# (PostgreSQL 15, Redis, Chromium for the browser test), uv, and the locked Python environment (.venv). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15 postgresql-contrib)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v runuser >/dev/null || need_apt+=(util-linux)
command -v chromium >/dev/null || need_apt+=(chromium)  # the portal's headless browser test
command -v soffice >/dev/null || need_apt+=(libreoffice-calc-nogui)  # spreadsheets converted as departments save them (tests)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]} (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi

if ! command -v uv >/dev/null; then
  echo "bootstrap: installing uv"
  python3 -m pip install -q uv
fi

echo "bootstrap: Python environment (uv sync --frozen, with the test and spark extras)"
# Compiled to bytecode once (about a minute, the first time only): where PYTHONDONTWRITEBYTECODE is set,
# as on CI machines, every process (dbt, Airflow tasks, the CLI) would otherwise compile what it imports
# at each start, 1.5-3 s each.
uv sync -q --frozen --extra test --extra spark --compile-bytecode
