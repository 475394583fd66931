#!/usr/bin/env bash
# Install the project with its dev extra into a virtual environment and run lint and tests.
# Usage: scripts/test.sh [pytest args...]   (VENV=path to choose the venv; default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
"$VENV/bin/ruff" check src tests bench
"$VENV/bin/python" -m pytest "$@"
