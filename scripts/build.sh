#!/usr/bin/env bash
# Builds the book (the README's build command): checks the Python version, installs the pinned
# environment of requirements.txt, then builds the site into _build/html with every Sphinx
# warning an error (--keep-going reports all of them before failing). The stored notebook outputs
# are shown as they are (execution is off in _config.yml); nbval checks them (scripts/test.sh).
# Set PYTHON to use another interpreter; extra arguments go to `jupyter-book build`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export PYTHON

bash scripts/check_python.sh
"$PYTHON" -m pip install -q -r requirements.txt
"$PYTHON" -c "from jupyter_book.cli.main import main; main()" \
  build --warningiserror --keep-going "$@" .
echo "The book is in _build/html: preview it with python -m http.server -d _build/html"
