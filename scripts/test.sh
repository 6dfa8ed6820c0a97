#!/usr/bin/env bash
# Runs every test (the README's test command; CI runs exactly this):
#   1. ruff over the code and the chapters (80 columns in chapters, book/ruff.toml);
#   2. the unit and property tests with coverage (ce_lib >= 95 %, ce_lib/checks.py 100 %), and the
#      notebook, prose-number and reader-environment checks;
#   3. nbval strict over every chapter under the default CPU kernels and under two other
#      combinations of ATEN_CPU_CAPABILITY / OPENBLAS_CORETYPE / OMP_NUM_THREADS, as a machine
#      without AVX-512 (or with another BLAS kernel, or threads) would run them;
#   4. the mutation test (a wrong ce_lib must make the chapters fail);
#   5. the book build with warnings as errors and the headless-browser check of the built site.
# Every stage runs even if an earlier one failed; a summary with times ends the output. The
# nbval stages run alongside the unit tests (8-9 minutes in all on 2 cores, 13 under load).
# Extra arguments go to every pytest call (e.g. -x). Set PYTHON to use another interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export PYTHON

bash scripts/check_python.sh || exit 1

# The browser test drives Debian's Chromium (Playwright cannot download its own browser offline).
if ! command -v chromium >/dev/null 2>&1 && [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: run 'sudo apt-get install chromium' (Debian/Ubuntu) and retry" >&2
    exit 1
  fi
fi

"$PYTHON" -m pip install -q -r requirements.txt || exit 1

# The CPU combinations nbval runs the chapters under besides the default one. AVX2 and the
# baseline kernels run on every x86-64 CPU this book targets; the thread counts change how BLAS
# and torch split their sums.
COMBOS=(
  "ATEN_CPU_CAPABILITY=default OPENBLAS_CORETYPE=Prescott OMP_NUM_THREADS=1"
  "ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell OMP_NUM_THREADS=2"
)
# Stages that run pytest without the project's addopts (which ask nbval to collect chapters).
NO_NBVAL=(-o "addopts=-p no:cacheprovider")

RESULTS="$(mktemp)"
NBVAL_LOG="$(mktemp)"
trap 'rm -f "$RESULTS" "$NBVAL_LOG"' EXIT

stage() {  # stage NAME COMMAND...: run it, record its exit status and time in $RESULTS
  local name="$1" start rc
  shift
  echo
  echo "=== $name"
  start=$(date +%s)
  "$@"
  rc=$?
  if [ "$rc" = 5 ]; then
    echo "pytest collected no test in stage '$name' (exit 5): a stage that tests nothing fails" >&2
  fi
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - start))" >>"$RESULTS"
}

# Runs the chapters with nbval strict (pyproject's addopts) under the given environment.
nbval() {
  env "$@" "$PYTHON" -m pytest -q book "${EXTRA[@]}"
}

# Coverage of the unit tests, then the checks helper alone must be fully covered.
unit_tests() {
  "$PYTHON" -m pytest "${NO_NBVAL[@]}" -q tests \
    --ignore=tests/test_book_mutations.py --ignore=tests/test_site.py \
    --cov=ce_lib --cov-report=term-missing:skip-covered --cov-fail-under=95 "${EXTRA[@]}" \
    && "$PYTHON" -m coverage report --include='ce_lib/checks.py' --fail-under=100
}

# The nbval stages (one kernel at a time, single-threaded but for the OMP_NUM_THREADS=2 one) run
# on the second core while the unit tests run; their output is shown after the unit tests'.
nbval_stages() {
  stage "nbval strict, default CPU kernels" nbval
  for combo in "${COMBOS[@]}"; do
    # shellcheck disable=SC2086 # the combination is a list of VAR=value words
    stage "nbval strict, $combo" nbval $combo
  done
}

EXTRA=("$@")
start_all=$(date +%s)
stage "ruff" "$PYTHON" -m ruff check .
nbval_stages >"$NBVAL_LOG" 2>&1 &
nbval_pid=$!
stage "unit tests + coverage" unit_tests
wait "$nbval_pid"
cat "$NBVAL_LOG"
stage "mutation test" "$PYTHON" -m pytest "${NO_NBVAL[@]}" -q -rA tests/test_book_mutations.py \
  "${EXTRA[@]}"
stage "site build + browser" "$PYTHON" -m pytest "${NO_NBVAL[@]}" -q tests/test_site.py \
  "${EXTRA[@]}"

echo
echo "=== summary ($(($(date +%s) - start_all)) s in all)"
failed=0
while IFS=$'\t' read -r name rc seconds; do
  if [ "$rc" = 0 ]; then mark="passed"; else mark="FAILED (exit $rc)"; failed=1; fi
  printf '%-90s %-16s %5s s\n' "$name" "$mark" "$seconds"
done <"$RESULTS"
expected=$((5 + ${#COMBOS[@]}))  # ruff, unit, nbval default, the combinations, mutation, site
if [ "$(wc -l <"$RESULTS")" -ne "$expected" ]; then
  echo "expected $expected stages, $(wc -l <"$RESULTS") reported" >&2
  failed=1
fi
if [ "$failed" = 0 ]; then
  echo "all tests passed"
else
  echo "some stages FAILED (see above)"
fi
exit "$failed"
