#!/usr/bin/env bash
# ce_lib's declared lower bound numpy>=1.24 (pyproject.toml) is tested, not just claimed: its unit
# tests run against numpy 1.24.4 in a virtual environment made from the current Python
# (3.11; numpy 1.24 has no wheels for 3.12+), which must already have requirements.txt installed
# (the venv sees its packages, and overrides numpy, and scipy, which the tests compare with, by
# the oldest versions that support numpy 1.24). The notebook, site, mutation and reader tests
# are left out: they test the book's pinned environment, not ce_lib.
#   bash scripts/test_lower_bounds.sh            # venv in /tmp/ce_lib_lower_bounds
# Set PYTHON to choose the interpreter and LB_VENV the venv folder. Runs in CI as its own job.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
VENV="${LB_VENV:-/tmp/ce_lib_lower_bounds}"
LOWER=(numpy==1.24.4 scipy==1.11.4)

"$PYTHON" -m venv --system-site-packages "$VENV"
"$VENV/bin/python" -m pip install -q "${LOWER[@]}"
"$VENV/bin/python" - <<'PY'
import numpy

assert numpy.__version__ == "1.24.4", numpy.__version__
print(f"numpy {numpy.__version__} from {numpy.__file__}")
PY
# matplotlib (ce_lib.plotting) needs numpy>=1.25: the plotting helper is the book's, not the API's.
exec "$VENV/bin/python" -m pytest -o "addopts=-p no:cacheprovider" -q tests \
  --ignore=tests/test_notebooks.py --ignore=tests/test_site.py \
  --ignore=tests/test_book_mutations.py --ignore=tests/test_prose_numbers.py \
  --ignore=tests/test_reader_environments.py --ignore=tests/test_plotting.py "$@"
