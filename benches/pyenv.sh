#!/usr/bin/env bash
# Sets up the Python environment the end-to-end benchmarks compare against:
# what a user would run instead of ml-connector (a plain `requests` loop for
# Acumatica, the official `looker_sdk` for Looker), both from PyPI.
#
#   benches/pyenv.sh          # creates or reuses the environment, prints its python
#
# The environment lives in $BENCH_VENV (default: benches/.venv, not committed).
# Versions are pinned so figures from different days compare the same clients.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${BENCH_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c 'import requests, looker_sdk' 2>/dev/null; then
  "$venv/bin/pip" install -q "requests==2.34.2" "looker_sdk==26.22.0" >&2
fi
echo "$venv/bin/python"
