#!/usr/bin/env bash
# Full mutation test of ce_lib with mutmut 3 (config: setup.cfg [mutmut]); hours on 2 cores.
#
#   bash scripts/mutation_test.sh            # every mutant of ce_lib
#   bash scripts/mutation_test.sh 'ce_lib.numpy.activations*'   # only mutants matching names
#   MUTATION_RECORD=new_code MUTATION_WORKDIR=/tmp/new \
#       bash scripts/mutation_test.sh 'ce_lib._focal*'   # a partial run recorded apart:
#       # mutation/new_code.md and mutation/new_code_results.txt
#
# It works in a copy of the repository's HEAD commit (MUTATION_WORKDIR, default
# $TMPDIR/ce_lib-mutation, reused between runs so that mutmut only re-tests what changed), runs
# ce_lib's unit tests against each mutant with few derandomized hypothesis examples
# (CE_LIB_TEST_PROFILE=mutation), niced, on MUTATION_JOBS processes (default 2), then writes
# mutation/last_run.md (score, date, commit) and mutation/results.txt (every mutant that was not
# killed). Reviewed survivors: mutation/survivors.md. The fast sample of hand-written mutants is
# tests/test_mutation_sample.py (part of the tests).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${MUTATION_WORKDIR:-${TMPDIR:-/tmp}/ce_lib-mutation}
mkdir -p "$work"
rm -rf "$work/ce_lib" "$work/tests"
# the committed state of HEAD (the commit last_run.md names), not uncommitted edits in the tree
git -C "$repo" archive HEAD ce_lib tests setup.cfg pyproject.toml | tar -x -C "$work"
find "$work/ce_lib" "$work/tests" -name __pycache__ -prune -exec rm -rf {} +
cd "$work"
export CE_LIB_TEST_PROFILE=mutation OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
start=$(date -u +%s)
nice -n 19 mutmut run --max-children "${MUTATION_JOBS:-2}" "$@" > mutmut-run.log 2>&1 || {
    tr '\r' '\n' < mutmut-run.log | grep -v '^\s*$' | tail -20; exit 1; }
minutes=$(( ($(date -u +%s) - start) / 60 ))
record=${MUTATION_RECORD:-last_run}
results=$repo/mutation/results.txt
[ "$record" = last_run ] || results=$repo/mutation/${record}_results.txt
mutmut results > "$results" || true
mutmut export-cicd-stats > /dev/null
python "$repo/scripts/mutation_summary.py" "$work" "$minutes" "$record" "$@"
