#!/usr/bin/env bash
# Install the system tools the deployment tests use, from Debian's own packages, when missing:
#   caddy     the TLS reverse proxy of deploy/Caddyfile (tests/test_deploy_files.py, tests/test_rolling_restart.py)
#   promtool  (package prometheus) to check deploy/alerts.yml
# Needs root (or sudo) and apt-get; elsewhere it says what is missing and leaves it to you.
set -uo pipefail

missing=()
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && { echo "caddy and promtool are installed"; exit 0; }

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install ${missing[*]}: no apt-get here; install them by hand" >&2
  exit 1
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# --no-install-recommends: the tools only; their services are not started (tests run their own caddy).
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v caddy >/dev/null 2>&1 || { echo "caddy did not install" >&2; exit 1; }
echo "installed ${missing[*]}"
