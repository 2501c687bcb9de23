"""Many analyses in one call: `nma run a.toml b.toml` and outputs/manifest.json, whose hashes must be run.json's and
the files' own SHA-256 (computed here with hashlib, independently of nma's provenance code)."""

import hashlib
import json
from pathlib import Path

import pytest

from nma.app import cli

CONTRASTS = "study,treatment,y,se\nS1,A,,0.1\nS1,B,-0.3,0.2\nS1,C,-0.1,0.25\nS2,B,,\nS2,C,0.2,0.3\n"


def config(tmp_path: Path, name: str, extra: str = "", csv: str = "contrasts.csv") -> str:
    (tmp_path / "analyses").mkdir(exist_ok=True)
    (tmp_path / "contrasts.csv").write_text(CONTRASTS, encoding="utf-8")
    path = tmp_path / "analyses" / f"{name}.toml"
    path.write_text(f'title = "{name}"\n[data]\ncontrasts = "../{csv}"\n[model]\neffects = "fixed"\nreference = "A"\n'
                    f'engine = "exact"\nchecks = false\n{extra}\n[sampler]\nseed = 1\ndraws = 100\nchains = 2\n',
                    encoding="utf-8")
    return str(path.relative_to(tmp_path))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NMA_NO_INDEX", raising=False)
    return tmp_path


def test_several_configs_one_manifest(project, capsys):
    a, b = config(project, "pico_a"), config(project, "pico_b", "[decision]\nthresholds = [0.8, 1.25]")
    assert cli.main(["run", a, b]) == 0
    manifest = json.loads((project / "outputs" / "manifest.json").read_text())
    assert [e["name"] for e in manifest["analyses"]] == ["pico_a", "pico_b"] and manifest["n_analyses"] == 2
    for entry in manifest["analyses"]:
        run = json.loads((project / entry["output_folder"] / "run.json").read_text())
        assert entry["output_folder"] == f"outputs/{entry['name']}"
        assert entry["input_hash"] == run["input_hash"]
        assert entry["inputs"] == run["inputs"]
        assert entry["config_sha256"] == run["config_sha256"] == sha(project / "analyses" / f"{entry['name']}.toml")
        assert entry["inputs"][str((project / "contrasts.csv").resolve())] == sha(project / "contrasts.csv")
        assert entry["engine"] == "exact" and entry["converged"] is True
        listed = (project / entry["output_folder"] / "warnings.txt").read_text().splitlines()
        assert entry["warnings"] == [w for w in listed if w] and entry["n_warnings"] == len(entry["warnings"])
        assert len(entry["warnings"]) >= len(run["warnings"])
    out = capsys.readouterr().out
    assert "[1/2]" in out and "[2/2]" in out and "2 of 2 analyses run" in out
    # `nma manifest` rebuilds the same bytes from the run.json files (no dates in it)
    before = (project / "outputs" / "manifest.json").read_bytes()
    assert cli.main(["manifest", "outputs"]) == 0
    assert (project / "outputs" / "manifest.json").read_bytes() == before


def test_a_failing_config_does_not_stop_the_others(project, capsys):
    good = config(project, "good")
    bad = config(project, "bad", csv="missing.csv")
    assert cli.main(["run", bad, good]) == cli.ERROR_EXIT
    manifest = json.loads((project / "outputs" / "manifest.json").read_text())
    assert [e["name"] for e in manifest["analyses"]] == ["good"]
    captured = capsys.readouterr()
    assert "bad.toml: FAILED" in captured.err and "1 of 2 analyses run; FAILED: analyses/bad.toml" in captured.out


def test_refused_before_anything_runs(project, capsys):
    a, b = config(project, "x"), config(project, "y")
    assert cli.main(["run", a, b, "--out", "outputs/z"]) == cli.ERROR_EXIT
    assert "--out outputs/z with 2 config(s)" in capsys.readouterr().err
    (project / "other").mkdir()
    (project / "other" / "x.toml").write_text((project / a).read_text().replace("../", "../"), encoding="utf-8")
    assert cli.main(["run", a, "other/x.toml"]) == cli.ERROR_EXIT
    assert "analyses named x more than once" in capsys.readouterr().err
    assert not (project / "outputs").exists()


def test_manifest_of_a_missing_folder(project, capsys):
    assert cli.main(["manifest", "nowhere"]) == cli.ERROR_EXIT
    assert "nowhere: no such outputs folder" in capsys.readouterr().err


def test_picos_expand_comparators_into_analyses(project, capsys):
    """A file-route config with [[picos]] comparator = ["A", "B"]: two analyses, each with that comparator as the
    reference and the [decision] comparator, in outputs/<stem>__<pico>/, and the manifest lists both."""
    c = config(project, "trio", '[[picos]]\ncomparator = ["A", "B"]')
    assert cli.main(["run", c]) == 0
    manifest = json.loads((project / "outputs" / "manifest.json").read_text())
    assert [e["name"] for e in manifest["analyses"]] == ["trio__a", "trio__b"]
    for entry, comparator in zip(manifest["analyses"], "AB"):
        run = json.loads((project / entry["output_folder"] / "run.json").read_text())
        assert run["network"]["reference"] == comparator
        assert run["config"]["decision"]["comparator"] == comparator and "picos" not in run["config"]
        assert entry["config_sha256"] == sha(project / c) and entry["input_hash"] == run["input_hash"]
        probs = (project / entry["output_folder"] / "decision_probabilities.csv").read_text()
        assert all(line.split(",")[1] == comparator for line in probs.splitlines()[1:])


def test_picos_expand_population_by_outcome(tmp_path):
    """On data/ evidence: population x outcome, in order, each a config of its own (loaded, not run)."""
    from nma.app.picos import pico_configs

    path = tmp_path / "grid.toml"
    path.write_text('title = "grid"\n[data]\nevidence = "%s"\nsetting = "metastatic_first_line"\noutcome = "pfs"\n'
                    '[[picos]]\npopulation = ["itt", "hr_positive"]\noutcome = ["pfs", "os"]\n'
                    % (Path(__file__).resolve().parents[1] / "data"), encoding="utf-8")
    cfgs = pico_configs(path)
    assert [c.name for c in cfgs] == ["grid__itt_pfs", "grid__itt_os", "grid__hr_positive_pfs", "grid__hr_positive_os"]
    assert [(c.selection.population, c.selection.outcome) for c in cfgs] == [
        ("itt", "pfs"), ("itt", "os"), ("hr_positive", "pfs"), ("hr_positive", "os")]
    assert cfgs[1].title == "grid [population itt, outcome os]"


@pytest.mark.parametrize("picos, match", [
    ('[[picos]]\nname = "x"', "names no population, outcome or comparator"),
    ('[[picos]]\ncomparator = []', r"comparator = \[\] must be a non-empty"),
    ('[[picos]]\ncomparators = ["A"]', r"unknown key \[picos\] comparators"),
    ('[[picos]]\noutcome = "os"', "population and outcome select from data/"),
    ('[[picos]]\ncomparator = "A"\n[[picos]]\ncomparator = "A"', "repeats entry 1"),
])
def test_bad_picos_are_refused_before_anything_runs(project, capsys, picos, match):
    c = config(project, "bad_picos", picos)
    assert cli.main(["run", c]) == cli.ERROR_EXIT
    assert __import__("re").search(match, capsys.readouterr().err)
    assert not (project / "outputs").exists()
