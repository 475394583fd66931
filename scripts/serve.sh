#!/usr/bin/env bash
# Install the project into .venv and run the server on its embedded defaults:
# SQLite at ./smarthub.db, the demo provider, no keys. Arguments go to `smarthub serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/smarthub serve "$@"
