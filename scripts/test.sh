#!/usr/bin/env bash
# Install the project with its dev extra into a virtual environment and run lint and tests.
# Usage: scripts/test.sh [pytest args...]   (VENV=path to choose the venv; default .venv)
# The suite runs on SMARTHUB_TEST_WORKERS parallel pytest-xdist workers (default 4: on two cores,
# four keep both busy while some wait on subprocesses, browsers and sockets); pass `-n 0` to run
# in one process, or a path to run only those tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
# The MCP Inspector CLI (a third-party MCP client, with Node 22) for tests/test_inspector.py.
if command -v npm >/dev/null 2>&1; then
  (cd tests/inspector && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "warning: could not install the MCP Inspector; its test will be skipped" >&2
  # axe-core, injected into the dashboard pages by tests/dashboard (accessibility checks).
  (cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "warning: could not install axe-core; the dashboard accessibility checks will be skipped" >&2
fi
# Headless Chromium for the OAuth browser tests (tests/oauth): Debian's package, driven by the
# playwright package from the dev extra. Installed when missing and we may (root with apt-get).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null) \
    || echo "warning: could not install chromium; the OAuth browser tests will be skipped" >&2
fi
"$VENV/bin/ruff" check src tests bench
"$VENV/bin/python" scripts/check_module_length.py
"$VENV/bin/lint-imports" --no-cache >/dev/null || "$VENV/bin/lint-imports" --no-cache
"$VENV/bin/mypy"
# Bytecode caches: an environment with PYTHONDONTWRITEBYTECODE set makes every worker and every
# subprocess the tests start (CLI commands, servers, replicas) compile the sources again, and pytest
# rewrite every test module in every worker. Compiled once here, they are read from then on.
unset PYTHONDONTWRITEBYTECODE
"$VENV/bin/python" -m compileall -q -x node_modules src tests >/dev/null
"$VENV/bin/python" -m pytest -n "${SMARTHUB_TEST_WORKERS:-4}" --dist worksteal "$@"
