#!/usr/bin/env bash
# Install annotator with its test extras into .venv and run the whole test suite.
# Starts the local PostgreSQL if it is down and installs Debian's Chromium for the browser test
# when missing (as root). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# irrCAC is the reference for Gwet's agreement coefficients in the tests; it pins pandas < 3 and
# scipy == 1.12 (it runs fine on newer ones when given its categories), so it goes in without its pins.
.venv/bin/python -m pip install --quiet --no-deps 'irrCAC==0.4.4'
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
fi
if ! [ -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || \
    echo "warning: could not install chromium; the browser test will say why it cannot run" >&2
fi
exec .venv/bin/python -m pytest "$@"
