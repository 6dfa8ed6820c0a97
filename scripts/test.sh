#!/usr/bin/env bash
# Runs every test: ce_lib's unit and property tests (with coverage), nbval over every chapter,
# the book build with warnings as errors, and the headless-browser check of the built site.
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser test drives Debian's Chromium (Playwright cannot download its own browser offline).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: run 'sudo apt-get install chromium' (Debian/Ubuntu) and retry" >&2
    exit 1
  fi
fi

python -m pip install -q -r requirements.txt
python -m ruff check .
python -m pytest --cov=ce_lib --cov-report=term-missing --cov-fail-under=95 "$@"
