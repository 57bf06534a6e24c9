#!/usr/bin/env bash
# Install annotator into .venv (only when pyproject.toml changed since the last install) and start
# the app with demo data on http://127.0.0.1:8501.
# Extra arguments go to `annotator serve` (e.g. --port 8600); the demo listens on this computer only.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.annotator-install-stamp
want="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.version_info[:2])')"
if [ ! -x .venv/bin/annotator ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
  echo "$want" > "$stamp"
fi
exec .venv/bin/annotator serve --demo "$@"
