"""Readers can run every chapter where the book sends them, on the Python versions it names.

* Colab (and any fresh Jupyter): each chapter's first code cell installs ce_lib from the
  repository named in _config.yml when it is missing, and does nothing (prints nothing) when it
  is present, as under nbval and the book build.
* Binder: binder/ holds the environment, with the CPU build of torch and the pins of
  requirements.txt.
* The README's two commands stop early, with a clear message, on a Python other than 3.11-3.14.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from toc import ROOT, toc_notebooks

sys.path.insert(0, str(ROOT / "scripts"))
from install_cell import install_cell_source

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPOSITORY = CONFIG["repository"]["url"]
CHAPTERS = toc_notebooks()


def first_code_cell(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    return next(cell for cell in nb.cells if cell.cell_type == "code")


# ------------------------------------------------------------------------------------ Colab


def test_the_install_cell_names_the_configured_repository() -> None:
    assert REPOSITORY.startswith("https://github.com/")
    assert f"git+{REPOSITORY}" in install_cell_source()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_first_code_cell_is_the_install_cell(path: Path) -> None:
    cell = first_code_cell(path)
    assert cell.source == install_cell_source(), (
        f"{path.name}: the first code cell is not the install cell of scripts/install_cell.py; "
        f"run `python scripts/install_cell.py {path.relative_to(ROOT)}` and re-execute"
    )
    assert "remove-cell" in cell.metadata.get("tags", [])
    assert cell.outputs == [], "the install cell prints nothing where ce_lib is installed"


def run_install_cell(monkeypatch: pytest.MonkeyPatch, ce_lib_present: bool) -> list[tuple]:
    """Execute the cell's code with find_spec and subprocess.run stubbed; returns the runs."""
    calls: list[tuple] = []
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        if name == "ce_lib" and not ce_lib_present:
            return None
        return real_find_spec(name, *args, **kwargs)

    def run(*args, **kwargs):
        calls.append((args, kwargs))
        return subprocess.CompletedProcess(args[0] if args else None, 0)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(subprocess, "run", run)
    exec(compile(install_cell_source(), "<install cell>", "exec"), {"__name__": "__main__"})
    return calls


def test_install_cell_installs_ce_lib_when_missing(monkeypatch, capsys) -> None:
    calls = run_install_cell(monkeypatch, ce_lib_present=False)
    assert len(calls) == 1, calls
    (args, kwargs) = calls[0]
    command = args[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    requirement = command[-1]
    assert re.fullmatch(rf"ce_lib(\[torch\])? @ git\+{re.escape(REPOSITORY)}", requirement)
    assert kwargs.get("check") is True, "a failed install must stop the notebook"
    assert capsys.readouterr() == ("", "")


def test_install_cell_does_nothing_when_ce_lib_is_present(monkeypatch, capsys) -> None:
    assert importlib.util.find_spec("ce_lib") is not None
    assert run_install_cell(monkeypatch, ce_lib_present=True) == []
    assert capsys.readouterr() == ("", "")


# ----------------------------------------------------------------------------------- Binder


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line (comments and options skipped)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_binder_installs_cpu_torch_and_the_same_pins() -> None:
    binder = ROOT / "binder" / "requirements.txt"
    text = binder.read_text(encoding="utf-8")
    options = [line.split() for line in text.splitlines() if line.startswith("--")]
    assert ["--extra-index-url", "https://download.pytorch.org/whl/cpu"] in options, options
    ours, theirs = pins(binder), pins(ROOT / "requirements.txt")
    assert ours.pop("torch") == theirs.pop("torch") + "+cpu", "torch must be the +cpu build"
    assert ours == theirs, "binder/requirements.txt must pin exactly what requirements.txt pins"
    local = [line.strip() for line in text.splitlines() if line.strip().startswith("-e")]
    assert local == ["-e ."], "Binder installs ce_lib from the repository"
    runtime = (ROOT / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    assert runtime == "python-3.11", "Binder's Python: the one the stored outputs were made with"


# ---------------------------------------------------------------------------- Python versions


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("3.10.12", False),
        ("3.11.0", True),
        ("3.11.7", True),
        ("3.12.3", True),
        ("3.13.1", True),
        ("3.14.0", True),
        ("3.15.0", False),
        ("2.7.18", False),
        ("4.11.0", False),
        ("3.9.18", False),
    ],
)
def test_python_version_check(version: str, ok: bool) -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check_python.sh"), version],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode == 0) is ok, proc.stderr
    if not ok:
        assert f"needs Python 3.11-3.14, but 'python' is Python {version}" in proc.stderr


@pytest.mark.parametrize("script", ["build.sh", "test.sh"])
def test_readme_commands_stop_early_on_python_3_10(script: str, tmp_path: Path) -> None:
    """With a Python 3.10 the commands stop before installing anything, saying why."""
    log = tmp_path / "calls"
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/usr/bin/env bash\necho "$*" >> {log}\n'
        'if [ "$1" = -c ]; then echo 3.10.12; else exit 99; fi\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake)}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / script)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "needs Python 3.11-3.14" in proc.stderr and "Python 3.10.12" in proc.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert len(calls) == 1 and calls[0].startswith("-c "), f"ran more than the check: {calls}"


def test_readme_states_the_python_range() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Python 3.11-3.14" in readme
    assert "3.10+" not in readme
    assert "bash scripts/build.sh" in readme and "bash scripts/test.sh" in readme


# ---------------------------------------------------------------------------------------- CI


def workflow(name: str) -> dict:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_ci_runs_the_readme_test_command_and_pages_waits_for_it() -> None:
    ci, pages = workflow("ci.yml"), workflow("pages.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs
    assert "exec bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lower = [step.get("run", "") for step in ci["jobs"]["lower-bounds"]["steps"]]
    assert "bash scripts/test_lower_bounds.sh" in lower
    assert set(pages["on"]) == {"workflow_run"}, "Pages deploys only through CI"
    assert pages["on"]["workflow_run"]["workflows"] == [ci["name"]]
    assert "conclusion == 'success'" in pages["jobs"]["build"]["if"]
    assert pages["jobs"]["deploy"]["needs"] == "build"
    for data in (ci, pages):
        for job in data["jobs"].values():
            for step in job["steps"]:
                assert step.get("uses", "actions/").startswith("actions/"), step
