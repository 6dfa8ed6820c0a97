"""The book's benchmark numbers are the results files' numbers.

A full run of a benchmark script writes ``benchmarks/results/<name>.json`` (the command, the date,
the machine and every measured row). Chapter 10 reads that file and renders its table; these
tests parse what the chapter's *stored* output shows (the page readers see) and compare it, cell
by cell, with the file, to the precision the page prints. They also check that each results file
says where it came from, and that the README points to the files instead of quoting numbers.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CHAPTER = ROOT / "book" / "10_vocabulary_scale.ipynb"
MACHINE_KEYS = {"cpu_model", "logical_cores", "python", "numpy", "torch", "torch_threads",
                "thread_environment"}


def results(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def stored_outputs(path: Path) -> list[dict]:
    nb = nbformat.read(path, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


class _TableRows(HTMLParser):
    """The body rows of an HTML table (pandas' ``to_html``), each a list of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag in ("td", "th"):
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.rows[-1][-1] += data


def benchmark_cell_outputs() -> tuple[str, list[list[str]]]:
    """The stdout and the table rows of chapter 10's cell that shows the results file."""
    nb = nbformat.read(CHAPTER, as_version=4)
    found = [c for c in nb.cells if c.cell_type == "code"
             and any("Recorded by `" in o.get("text", "") for o in c.outputs)]
    assert len(found) == 1, "chapter 10 must show exactly one benchmark table"
    outputs = found[0].outputs
    stdout = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) == 1
    parser = _TableRows()
    parser.feed(tables[0])
    return stdout, [[cell.strip() for cell in row] for row in parser.rows]


def glued(path: Path) -> dict[str, str]:
    """Name -> text of every value a notebook's stored outputs glue."""
    values = {}
    for o in stored_outputs(path):
        name = o.get("metadata", {}).get("scrapbook", {}).get("name")
        if name:
            values[name] = o["data"]["application/papermill.record/text/plain"]
    return values


def shown_equals(text: str, value: float) -> bool:
    """``text`` is ``value`` rounded to the decimals ``text`` shows."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value) <= 0.5 * 10.0**-decimals * (1 + 1e-9)


@pytest.mark.parametrize("name", ["linear_cross_entropy", "softmax_cross_entropy"])
def test_results_file_says_where_it_came_from(name: str) -> None:
    record = results(name)
    assert record["benchmark"] == name
    assert re.fullmatch(rf"(\w+=\S+ )*python benchmarks/bench_{name}\.py( .*)?", record["command"])
    assert "--quick" not in record["command"], "the committed file must be a full run"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", record["date"])
    assert MACHINE_KEYS <= record["machine"].keys()
    assert any(case.get("rows") for case in record["cases"]), "no measured rows"


def test_chapter_10_table_equals_the_results_file() -> None:
    record = results("linear_cross_entropy")
    cases = [c for c in record["cases"] if c["kind"] == "variants"]
    stdout, rows = benchmark_cell_outputs()
    machine = record["machine"]
    for fact in [record["command"], record["date"][:10], machine["cpu_model"], machine["torch"]]:
        assert str(fact) in stdout, f"the chapter does not say the table came from {fact!r}"

    expected = [(case, row) for case in cases for row in case["rows"]]
    assert len(rows) == len(expected), "the table and the file have different rows"
    for k, (cells, (case, row)) in enumerate(zip(rows, expected, strict=True)):
        problem, variant, time_s, time_ratio, mib, mem_ratio, mem_chunked = cells
        size = re.fullmatch(r"N=(\d+), d=(\d+), V=([\d,]+) \(logits (\d+) MiB\)", problem)
        assert size, f"row {k}: problem cell {problem!r}"
        assert [int(g.replace(",", "")) for g in size.groups()[:3]] == [
            case["n"], case["d"], case["v"]]
        assert shown_equals(size.group(4), case["logits_bytes"] / 2**20)
        assert variant == row["variant"]
        for shown, key in [(time_s, "time_s"), (time_ratio, "time_over_reference"),
                           (mib, "peak_extra_mib"), (mem_ratio, "memory_over_reference"),
                           (mem_chunked, "memory_over_torch_chunked")]:
            assert shown_equals(shown, row[key]), f"row {k} ({variant}): {key} shows {shown}"

    targets = re.findall(r"^- N=(\d+): (.+): ([\d.]+) \((met|not met)\)$", stdout, re.M)
    expected_targets = [(c["n"], t) for c in cases for t in c["targets"]]
    assert len(targets) == len(expected_targets)
    for (n, label, ratio, met), (case_n, target) in zip(targets, expected_targets, strict=True):
        assert (int(n), label, met == "met") == (case_n, target["target"], target["met"])
        assert shown_equals(ratio, target["ratio"])


def test_chapter_10_glued_measurements_come_from_the_file() -> None:
    record = results("linear_cross_entropy")
    cases = [c for c in record["cases"] if c["kind"] == "variants"]
    sweep = next(c for c in record["cases"] if c["kind"] == "chunk_sweep")
    balance = next(c for c in record["cases"] if c["kind"] == "machine_balance")

    def row(case: dict, variant: str) -> dict:
        return next(r for r in case["rows"] if r["variant"] == variant)

    ratios = {r["chunk_size"]: r["time_over_reference"] for r in sweep["rows"]}
    best = min(ratios, key=ratios.__getitem__)
    expected = {
        "ch10_plain_x": row(cases[-1], "reference")["memory_over_logits"],
        "ch10_kept_x": row(cases[-1], "reference, logits kept")["memory_over_logits"],
        "ch10_small_plain_x": row(cases[0], "reference")["memory_over_logits"],
        "ch10_large_plain_x": row(cases[-1], "reference")["memory_over_logits"],
        "ch10_small_time": row(cases[0], "ce_lib.torch")["time_over_reference"],
        "ch10_large_time": row(cases[-1], "ce_lib.torch")["time_over_reference"],
        "ch10_t8": ratios[8],
        "ch10_c_best": best,
        "ch10_t_best": ratios[best],
        "ch10_gflops": balance["matmul_flop_per_s"] / 1e9,
        "ch10_gbs": balance["copy_bytes_per_s"] / 1e9,
        "ch10_balance": balance["flop_per_byte"],
    }
    shown = glued(CHAPTER)
    for name, value in expected.items():
        assert name in shown, f"chapter 10 no longer glues {name}"
        assert shown_equals(shown[name], value), f"{name} shows {shown[name]}, file has {value}"


def test_readme_points_to_the_results_files() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    for name in ["linear_cross_entropy", "softmax_cross_entropy"]:
        assert f"benchmarks/results/{name}.json" in section
    # measured numbers live in the files; a copy in the README would go stale
    assert not re.search(r"\d\.\d+ ?x|\d+(\.\d+)? ?(ms|MiB|GiB)\b", section), section
