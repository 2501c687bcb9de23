"""Reproducible, verifiable, interruptible runs: byte-identical outputs wherever they are written, `nma verify`
naming what changed, and SIGINT/SIGTERM leaving the previous outputs exactly as they were."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bad_inputs import CORPUS, snapshot

from nma.app import cli

COMPARED = ("relative_effects.csv", "ranks.csv", "league_table.csv")


@pytest.fixture
def project(tmp_path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(CORPUS / "_project", dest)
    return dest


def same_bytes(a: Path, b: Path) -> None:
    for name in COMPARED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_exact_run_is_byte_identical_across_folders_and_cwd(project, monkeypatch, capsys):
    """As `make all` runs it (from the project, --out outputs/<name>) and as a user might (from elsewhere)."""
    monkeypatch.chdir(project)
    assert cli.main(["run", "analyses/a.toml", "--out", "outputs/a"]) == 0
    monkeypatch.chdir(project / "analyses")
    assert cli.main(["run", "a.toml", "--out", "../elsewhere/deeper/a"]) == 0
    same_bytes(project / "outputs" / "a", project / "elsewhere" / "deeper" / "a")
    info = json.loads((project / "outputs" / "a" / "run.json").read_text())
    assert info["seed"] == 1 and info["config_path"] == str(project / "analyses" / "a.toml")
    assert info["lock"]["pymc"].startswith("5.28") and info["lock"]["numpy"] == info["dependencies"]["numpy"]
    assert len(info["package_sha256"]) == 64 and len(info["config_sha256"]) == 64 and info["python"].startswith("3.11")
    assert set(info["inputs"]) == {str(project / "data" / f) for f in ("treatments.csv", "sources.csv", "evidence.csv")}


@pytest.mark.slow
def test_mcmc_run_is_byte_identical_across_folders_and_cwd(project):
    cfg = project / "analyses" / "m.toml"
    cfg.write_text('[data]\ncontrasts = "../contrasts.csv"\n[model]\neffects = "fixed"\nd_prior_sd = 10\n'
                   'engine = "mcmc"\n[sampler]\nseed = 11\nchains = 2\ndraws = 1000\ntune = 500\n')
    runs = [(project, ["--out", "outputs/m"]), (project / "analyses", ["--out", str(project / "other" / "m")])]
    for cwd, out in runs:
        res = subprocess.run([sys.executable, "-m", "nma", "run", str(cfg), *out], cwd=cwd, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    same_bytes(project / "outputs" / "m", project / "other" / "m")


def test_verify_names_what_changed(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert cli.main(["run", "analyses/a.toml"]) == 0
    out = project / "outputs" / "a"

    def verify() -> tuple[int, str]:
        capsys.readouterr()
        code = cli.main(["verify", str(out)])
        return code, capsys.readouterr().out

    code, text = verify()
    assert code == 0 and "outputs are current" in text
    for path, edit, expected in [
        (project / "analyses" / "a.toml", lambda s: s + "# a comment changes the config's bytes\n", "config changed"),
        (project / "data" / "evidence.csv", lambda s: s.replace("Table 2", "Table 2b"), "data changed"),
        (out / "run.json", lambda s: s.replace(json.loads(s)["lock"]["numpy"], "1.0.0"), "package changed: 1 dependencies differ: numpy 1.0.0 ->"),
    ]:
        original = path.read_text()
        path.write_text(edit(original))
        code, text = verify()
        assert code == 1 and expected in text, text
        assert sum(kind in text for kind in ("config changed", "data changed", "package changed")) == 1, text
        path.write_text(original)
    info = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**info, "package_sha256": "0" * 64}))
    code, text = verify()
    assert code == 1 and "package changed: the nma source differs" in text


def _previous_outputs(project: Path, name: str = "a") -> Path:
    out = project / "outputs" / name
    out.mkdir(parents=True)
    (out / "run.json").write_text('{"previous": true}\n')
    (out / "relative_effects.csv").write_text("treatment,comparator,mean\nB,A,-0.5\n")
    return out


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = 120) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never saw {text!r}; stderr so far:\n{seen}")
        seen += line
    return seen


def _left_behind(tag: str) -> list[str]:
    """Live processes (chain workers included) whose command line mentions tag."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if tag in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(pid)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupt_while_writing_keeps_previous_outputs(project, signum):
    """Signalled with the temporary folder half-written (NMA_TEST_PAUSE=write): nothing changes, nothing is left."""
    out = _previous_outputs(project)
    before = snapshot(project)
    proc = subprocess.Popen([sys.executable, "-m", "nma", "run", "analyses/a.toml"], cwd=project, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NMA_TEST_PAUSE": "write"})
    _wait_for(proc, "paused at write")
    assert list(out.parent.glob(".a.tmp-*"))  # the half-written temporary folder exists now
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"interrupted by {signum.name}" in err and "previous outputs in outputs/a are untouched" in err
    assert "Traceback" not in err
    assert snapshot(project) == before


@pytest.mark.slow
def test_sigterm_during_sampling_keeps_previous_outputs(project):
    """PyMC swallows the interrupt and returns the draws so far; nma must still stop and publish nothing."""
    out = _previous_outputs(project, "c")
    cfg = project / "analyses" / "c.toml"
    cfg.write_text(cfg.read_text().replace('engine = "exact"', 'engine = "mcmc"').replace("draws = 200", "draws = 100000"))
    before = snapshot(project)
    proc = subprocess.Popen([sys.executable, "-m", "nma", "run", str(cfg)], cwd=project, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(proc, "NUTS: [")
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "untouched" in err
    assert snapshot(project) == before and (out / "run.json").read_text() == '{"previous": true}\n'
    time.sleep(1)
    assert not _left_behind(str(cfg)), "chain processes were left running"
