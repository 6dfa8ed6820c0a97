#!/usr/bin/env bash
# Full mutation test of ce_lib with mutmut 3 (config: setup.cfg [mutmut]); hours on 2 cores.
#
#   bash scripts/mutation_test.sh            # every mutant of ce_lib
#   bash scripts/mutation_test.sh 'ce_lib.numpy.activations*'   # only mutants matching names
#
# It works in a copy of the repository (MUTATION_WORKDIR, default $TMPDIR/ce_lib-mutation, reused
# between runs so that mutmut only re-tests what changed), runs ce_lib's unit tests against each mutant
# with few derandomized hypothesis examples (CE_LIB_TEST_PROFILE=mutation), niced, on
# MUTATION_JOBS processes (default 2), then writes mutation/last_run.md (score, date, commit) and
# mutation/results.txt (every mutant that was not killed). Reviewed survivors: mutation/survivors.md.
# The fast sample of hand-written mutants is tests/test_mutation_sample.py (part of the tests).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${MUTATION_WORKDIR:-${TMPDIR:-/tmp}/ce_lib-mutation}
mkdir -p "$work"
rm -rf "$work/ce_lib" "$work/tests"
cp -r "$repo/ce_lib" "$repo/tests" "$repo/setup.cfg" "$repo/pyproject.toml" "$work/"
find "$work/ce_lib" "$work/tests" -name __pycache__ -prune -exec rm -rf {} +
cd "$work"
export CE_LIB_TEST_PROFILE=mutation OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
start=$(date -u +%s)
nice -n 19 mutmut run --max-children "${MUTATION_JOBS:-2}" "$@" > mutmut-run.log 2>&1 || {
    tr '\r' '\n' < mutmut-run.log | grep -v '^\s*$' | tail -20; exit 1; }
minutes=$(( ($(date -u +%s) - start) / 60 ))
mutmut results > "$repo/mutation/results.txt" || true
mutmut export-cicd-stats > /dev/null
python "$repo/scripts/mutation_summary.py" "$work" "$minutes"
