"""The first analysis of one's own data (README "Your own data"): the shipped example through `nma run` and through
the Python API, checked against numbers computed here from its CSV (the published HRs and a fixed-effect GLS in
numpy); `nma --help` shows examples; a CSV where a config is expected is refused as such."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nma
from nma.app import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_data"
Z = stats.norm.ppf(0.975)


def published() -> pd.DataFrame:
    """The example's trials as typed: one row per non-reference arm, with the study's reference arm beside it."""
    df = pd.read_csv(EXAMPLE / "hazard_ratios.csv")
    ref = df[df["hr"].isna()].set_index("study")["treatment"]
    arms = df[df["hr"].notna()].copy()
    arms["comparator"] = arms["study"].map(ref)
    return arms


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> Path:
    """`nma run examples/own_data/analysis.toml --out outputs/example` in a copy of the example (what make example runs)."""
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE, root / "examples" / "own_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert cli.main(["run", "examples/own_data/analysis.toml", "--out", "outputs/example"]) == 0
    return root / "outputs" / "example"


def test_example_is_small_illustrative_and_has_one_loop():
    arms = published()
    assert 4 <= arms["study"].nunique() <= 6
    assert len(set(arms["treatment"]) | set(arms["comparator"])) == 4
    assert (pd.read_csv(EXAMPLE / "hazard_ratios.csv")["source_id"] == "illustrative").all()
    assert "made-up" in (EXAMPLE / "analysis.toml").read_text(encoding="utf-8")


def test_make_example_writes_a_report_whose_single_trial_pair_is_its_published_hr(example_run):
    assert (example_run / "report.html").is_file() and (example_run / "league_table.xlsx").is_file()
    direct = pd.read_csv(example_run / "direct_effects.csv").set_index(["treatment", "comparator"])
    cell = direct.loc[("drug_c", "drug_b")]                   # EXAMPLE-5 alone: HR 0.80 (0.63 to 1.01)
    assert cell["n_studies"] == 1
    assert np.exp(cell["median"]) == pytest.approx(0.80, abs=1e-9)
    assert np.exp(cell["lower"]) == pytest.approx(0.63, abs=0.005)
    assert np.exp(cell["upper"]) == pytest.approx(1.01, abs=0.005)
    assert "Drug C + chemotherapy" in (example_run / "report.html").read_text(encoding="utf-8")


def test_example_through_the_api_fixed_effect_equals_numpy_gls():
    """The README's Python equivalent; its fixed-effect estimates against GLS computed here (two-arm trials)."""
    trials = pd.read_csv(EXAMPLE / "hazard_ratios.csv")
    net = nma.Network.from_ratios(trials, measure="HR", reference="chemo")
    fit = nma.fit(net, effects="fixed", engine="exact", d_prior_sd=1e4, seed=1)
    arms = published()
    basic = ["drug_a", "drug_b", "drug_c"]
    X = np.zeros((len(arms), 3))
    for r, (t, c) in enumerate(zip(arms["treatment"], arms["comparator"])):
        X[r, basic.index(t)] += 1
        if c in basic:
            X[r, basic.index(c)] -= 1
    y = np.log(arms["hr"].to_numpy())
    se = (np.log(arms["ci_upper"]) - np.log(arms["ci_lower"])).to_numpy() / (2 * Z)
    W = np.diag(1 / se**2)
    cov = np.linalg.inv(X.T @ W @ X)
    mean = cov @ X.T @ W @ y
    rel = fit.relative_effects("chemo").set_index("treatment")
    for i, t in enumerate(basic):
        assert rel.loc[t, "mean"] == pytest.approx(mean[i], abs=1e-6)
        assert rel.loc[t, "sd"] == pytest.approx(np.sqrt(cov[i, i]), rel=1e-6)


def test_help_shows_examples_and_the_example_checks(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out
    assert cli.main(["check", str(EXAMPLE / "analysis.toml")]) == 0          # the check line of the examples
    assert "Network is connected" in capsys.readouterr().out
    for command in ("nma init my_hrs.csv", "nma run my_hrs.toml", "nma check my_hrs.toml",
                    "examples/own_data/analysis.toml"):
        assert command in out


def test_a_csv_given_as_config_is_named_as_such_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    shutil.copy(EXAMPLE / "hazard_ratios.csv", tmp_path / "data.toml")   # even under a .toml name
    shutil.copy(EXAMPLE / "hazard_ratios.csv", tmp_path / "data.csv")
    monkeypatch.chdir(tmp_path)
    for name in ("data.csv", "data.toml"):
        assert cli.main(["run", name]) == cli.ERROR_EXIT
        err = capsys.readouterr().err
        assert "is a CSV file" in err and "TOML syntax" not in err and f"nma init {name}" in err and "Fix:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "data.toml"]


def test_readme_section_shows_the_example_and_its_python_runs(tmp_path, monkeypatch):
    """The README's "Your own data" section comes right after the introduction, shows the shipped CSV's rows, and its
    Python block runs on the example (in a copy, so its fit.save writes there)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = [line for line in readme.splitlines() if line.startswith("## ")]
    assert headings[0].startswith("## Your own data")
    section = readme.split(headings[0], 1)[1].split("\n## ", 1)[0]
    csv_rows = (EXAMPLE / "hazard_ratios.csv").read_text(encoding="utf-8").splitlines()
    assert csv_rows[0] in section and csv_rows[-1] in section
    for command in ("make example", "nma init", "nma --help"):
        assert command in section
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "own_data")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "outputs" / "example_api" / "report.html").is_file()
