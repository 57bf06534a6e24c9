#!/usr/bin/env bash
# Install annotator into .venv and start the app with demo data on http://127.0.0.1:8501
# Extra arguments go to `annotator serve` (e.g. --port 8600); the demo listens on this computer only.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/annotator serve --demo "$@"
