"""Sensitivity analyses of other networks (`<name>_sensitivity_*.toml`) ranked beside the main analysis.

Invariant checked: each column of network_sensitivity.csv is what that companion analysis gives when run on its
own (exact engine, same seed and draws), so the side-by-side table adds nothing the analyses themselves do not say.
"""

from __future__ import annotations

import shutil

import pandas as pd
from helpers import REF

from nma.app.cli import main

CONFIG = ('title = "{title}"\n[data]\ncontrasts = "{csv}"\nmeasure = "MD"\n[model]\nreference = "1"\neffects = "fixed"\n'
          'd_prior_sd = 100\nengine = "exact"\n[sampler]\nseed = 7\ndraws = 500\n')


def project(tmp_path):
    full = pd.read_csv(REF / "tsd2_parkinsons.csv")
    full.to_csv(tmp_path / "all.csv", index=False)
    full[full["study"] != full["study"].iloc[-1]].to_csv(tmp_path / "fewer.csv", index=False)   # last trial left out
    (tmp_path / "park.toml").write_text(CONFIG.format(title="Parkinson's", csv="all.csv"))
    (tmp_path / "park_sensitivity_fewer.toml").write_text(CONFIG.format(title="Without the last trial", csv="fewer.csv"))
    return tmp_path


def test_companion_columns_are_the_companion_analyses(tmp_path, monkeypatch):
    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "park.toml", "--out", "outputs/park"]) == 0
    assert main(["run", "park_sensitivity_fewer.toml", "--out", "outputs/fewer"]) == 0
    side = pd.read_csv(tmp_path / "outputs/park/network_sensitivity.csv")
    assert list(pd.unique(side["analysis"])) == ["park", "park_sensitivity_fewer"]
    for name, folder in (("park", "park"), ("park_sensitivity_fewer", "fewer")):
        own = pd.read_csv(tmp_path / f"outputs/{folder}/ranks.csv").set_index("treatment")
        col = side[side["analysis"] == name].set_index("treatment")
        pd.testing.assert_series_equal(col["sucra"], own.loc[col.index, "sucra"], check_names=False)
        pd.testing.assert_series_equal(col["mean_rank"], own.loc[col.index, "mean_rank"], check_names=False)
    assert "network_sensitivity.csv" not in {p.name for p in (tmp_path / "outputs/fewer").iterdir()}   # no recursion
    html = (tmp_path / "outputs/park/report.html").read_text()
    assert 'id="network-sensitivity"' in html and "Without the last trial" in html
    # the companion config is an input of the main analysis: changing it makes its outputs stale
    assert main(["verify", "outputs/park"]) == 0
    (tmp_path / "park_sensitivity_fewer.toml").write_text(CONFIG.format(title="Renamed", csv="fewer.csv"))
    assert main(["verify", "outputs/park"]) == 1


def test_no_companions_no_table(tmp_path, monkeypatch):
    project(tmp_path)
    (tmp_path / "park_sensitivity_fewer.toml").unlink()
    monkeypatch.chdir(tmp_path)
    assert main(["run", "park.toml", "--out", "outputs/park"]) == 0
    assert not (tmp_path / "outputs/park/network_sensitivity.csv").exists()
    assert 'id="network-sensitivity"' not in (tmp_path / "outputs/park/report.html").read_text()
    shutil.rmtree(tmp_path / "outputs")
