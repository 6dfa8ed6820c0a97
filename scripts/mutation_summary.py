"""Write mutation/last_run.md from mutmut's results in the mutation work folder (also partial ones).

Run by scripts/mutation_test.sh after ``mutmut export-cicd-stats``; usable alone on an interrupted
run: ``python scripts/mutation_summary.py WORKDIR MINUTES [RECORD [PATTERN...]]`` (RECORD, default
``last_run``, names the files: mutation/RECORD.md from mutation/results.txt, or for another record
mutation/RECORD_results.txt; the patterns, if any, are those the run was limited to). The score
counts timeouts as killed (the mutant made the tests hang), counts the survivors that
mutation/survivors.md marks "killed since" (re-run against tests added after the full run) as
killed, leaves out those it marks equivalent, and counts the open and the not yet reviewed ones as
surviving.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def verdicts(record: str = "last_run") -> dict[str, str]:
    """mutant name -> its verdict (equivalent, killed since, open) in mutation/survivors.md, or,
    first, in mutation/RECORD_survivors.md: a run of changed code numbers a changed function's
    mutants anew, so its names can name other mutants than the full run's."""
    found = {}
    for name in ("survivors.md", f"{record}_survivors.md"):
        path = REPO / "mutation" / name
        for line in path.read_text().splitlines() if path.exists() else []:
            match = re.match(r"\| `([^`]+)` \| ([a-z ]+?) \|", line)
            if match:
                found[match.group(1)] = match.group(2)
    return found


def main() -> None:
    work, minutes = Path(sys.argv[1]), sys.argv[2]
    record = sys.argv[3] if len(sys.argv) > 3 else "last_run"
    patterns = sys.argv[4:]
    results_file = "results.txt" if record == "last_run" else f"{record}_results.txt"
    stats = json.loads((work / "mutants/mutmut-cicd-stats.json").read_text())
    results = (REPO / "mutation" / results_file).read_text().splitlines()
    survivors = [line.split(":")[0].strip() for line in results if line.endswith(": survived")]
    reviewed = verdicts(record)
    count = Counter(reviewed.get(name, "unreviewed") for name in survivors)
    equivalent, killed_since = count["equivalent"], count["killed since"]
    still_open, unreviewed = count["open"], count["unreviewed"]
    killed, timeout, survived = stats["killed"], stats["timeout"], stats["survived"]
    no_tests = stats.get("no_tests", 0)  # code no selected test runs: nothing could kill them
    checked = sum(v for k, v in stats.items() if k != "total" and isinstance(v, int))
    not_checked = stats["total"] - checked
    # Timeouts count as killed (the mutant made the tests hang); a survivor counts as killed only
    # if survivors.md says a later test kills it, is left out if it is equivalent, and counts as
    # surviving if it is open or not reviewed yet.
    # A mutant that no selected test runs ("no tests") counts as surviving.
    non_equivalent = killed + timeout + survived + no_tests - equivalent
    score = 100.0 * (killed + timeout + killed_since) / max(1, non_equivalent)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    version = subprocess.run(["mutmut", "--version"], capture_output=True, text=True).stdout
    title = "Last full mutation run" if record == "last_run" else f"Mutation run {record}"
    text = (
        f"# {title} (written by scripts/mutation_test.sh)\n\n"
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {minutes} minutes\n"
        f"- commit: {commit}\n"
        + ("" if not patterns
           else f"- mutants run: {' '.join(patterns)} (the others not checked)\n")
        + f"- {version.strip()}, ce_lib's unit tests (setup.cfg [mutmut]), "
        "CE_LIB_TEST_PROFILE=mutation\n"
        f"- mutants: {stats['total']}; killed {killed}, timed out {timeout}, survived {survived}, "
        f"run by no test {no_tests} (counted as surviving), not checked {not_checked}, "
        f"other {checked - killed - timeout - survived - no_tests}\n"
        f"- survivors reviewed in survivors.md: {equivalent} equivalent, {killed_since} killed since "
        f"by tests added after the run, {still_open} open; {unreviewed} not reviewed yet\n"
        f"- **score: {score:.1f} % of the non-equivalent mutants checked were killed**"
        + ("" if not not_checked else f" ({not_checked} mutants not checked: a partial run)")
        + "\n"
    )
    (REPO / "mutation" / f"{record}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
