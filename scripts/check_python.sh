#!/usr/bin/env bash
# Stops with a clear message unless the Python that will run the book is 3.11-3.14: the pins of
# requirements.txt (numpy 2.4, pandas 3.1, ...) have wheels for exactly those versions.
#   bash scripts/check_python.sh            # checks `${PYTHON:-python}`
#   bash scripts/check_python.sh 3.10.12    # checks a given version (how the tests try it)
# scripts/build.sh and scripts/test.sh run it before they install anything.
set -euo pipefail

check_python_version() {
  local version="$1" major minor
  IFS=. read -r major minor _ <<<"$version"
  if [[ "$major" == 3 && "$minor" =~ ^[0-9]+$ ]] && ((minor >= 11 && minor <= 14)); then
    return 0
  fi
  cat >&2 <<MSG
This book needs Python 3.11-3.14, but '${PYTHON:-python}' is Python ${version}.
requirements.txt pins versions (numpy 2.4, pandas 3.1, torch 2.13, ...) that have wheels for
Python 3.11-3.14 only. Install one of those (e.g. 'sudo apt-get install python3.11-venv',
pyenv or uv), make a virtual environment with it and run the command again:
  python3.11 -m venv .venv && source .venv/bin/activate
MSG
  return 1
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  if (($# > 0)); then
    check_python_version "$1"
  else
    if ! version=$("${PYTHON:-python}" -c 'import platform; print(platform.python_version())'); then
      echo "could not run '${PYTHON:-python}': install Python 3.11-3.14 (or set PYTHON)" >&2
      exit 1
    fi
    check_python_version "$version"
  fi
fi
