"""The hostile-input corpus (tests/bad_inputs/cases.toml) through the real command line.

Every case must exit non-zero with its error class, name the file and row and column (or the config key),
say how to fix it, and leave every file of the project (previous outputs included) byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nma.app import cli

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))["case"]
PREVIOUS = {"run.json": '{"previous": true}\n', "relative_effects.csv": "treatment,comparator,mean\nB,A,-0.5\n"}


def make_project(root: Path, case: dict) -> Path:
    """_project/ with the case's files laid over it, previous outputs in place, and a folder outside it."""
    project = root / "project"
    shutil.copytree(CORPUS / "_project", project)
    if (CORPUS / case["id"]).is_dir():
        shutil.copytree(CORPUS / case["id"], project, dirs_exist_ok=True)
    for name in ("a", "c"):
        for file, text in PREVIOUS.items():
            (project / "outputs" / name).mkdir(parents=True, exist_ok=True)
            (project / "outputs" / name / file).write_text(text)
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "keep.txt").write_text("not nma's\n")
    if "symlink" in case:
        link, target = case["symlink"]
        (project / link).symlink_to(target, target_is_directory=True)
    return project


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root with the hash of its bytes (or its link target): any change shows."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def check_message(case: dict, text: str) -> None:
    assert case["message"] in text, f"expected {case['message']!r} in:\n{text}"
    for where in case["where"]:
        assert where in text, f"expected the location {where!r} in:\n{text}"
    assert "Fix:" in text, f"no suggestion ('Fix: ...') in:\n{text}"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch, capsys):
    project = make_project(tmp_path, case)
    before = snapshot(tmp_path)
    monkeypatch.chdir(project)
    caught = []
    report = cli.report_error
    monkeypatch.setattr(cli, "report_error", lambda err: caught.append(err) or report(err))
    code = cli.main(case["args"])
    err = capsys.readouterr().err
    assert code != 0
    assert [type(e).__name__ for e in caught] == [case["error"]], err
    check_message(case, err)
    assert snapshot(tmp_path) == before


def test_corpus_is_large_and_base_project_is_valid(tmp_path, monkeypatch, capsys):
    """At least 40 cases, and the unmodified project passes, so each failure is due to its case's change."""
    assert len(CASES) >= 40 and len({c["id"] for c in CASES}) == len(CASES)
    project = make_project(tmp_path, {"id": "_none"})
    monkeypatch.chdir(project)
    assert cli.main(["check", "data"]) == 0
    assert cli.main(["check", "contrasts.csv"]) == 0


@pytest.mark.parametrize("case_id", ["bom", "unknown_key_model", "out_outside_project"])
def test_bad_input_exit_code_in_a_subprocess(case_id, tmp_path):
    case = next(c for c in CASES if c["id"] == case_id)
    project = make_project(tmp_path, case)
    before = snapshot(tmp_path)
    res = subprocess.run([sys.executable, "-m", "nma", *case["args"]], cwd=project, capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    check_message(case, res.stderr)
    assert snapshot(tmp_path) == before
