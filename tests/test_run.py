"""`nma run` end to end: outputs, provenance, the convergence gate, single-trial networks, verify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import arviz as az
import pandas as pd
import pytest
from helpers import REF, tsd2_published

ROOT = Path(__file__).resolve().parents[1]


def nma(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nma", *args], cwd=cwd, capture_output=True, text=True)


def write_config(folder: Path, body: str, name: str = "a.toml") -> Path:
    path = folder / name
    path.write_text(body)
    return path


PARKINSONS = f"""
title = "TSD2 Example 7"
[data]
contrasts = "{REF / 'tsd2_parkinsons.csv'}"
[model]
effects = "random"
reference = "1"
d_prior_sd = 100
tau_prior = "uniform(0, 5)"
engine = "exact"
[sampler]
seed = 7
"""


def test_exact_run_writes_documented_outputs(tmp_path):
    cfg = write_config(tmp_path, PARKINSONS)
    res = nma("run", str(cfg), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    rel = pd.read_csv(out / "relative_effects.csv", dtype={"treatment": str, "comparator": str})
    assert list(rel.columns) == ["treatment", "comparator", "mean", "sd", "lower", "median", "upper", "pred_lower",
                                 "pred_upper", "exp_median", "exp_lower", "exp_upper", "exp_pred_lower", "exp_pred_upper"]
    assert len(rel) == 5 * 4
    pub = tsd2_published()
    row = rel[(rel.treatment == "2") & (rel.comparator == "1")].iloc[0]
    assert row["mean"] == pytest.approx(pub["random"]["d"]["2"][0], abs=0.02)
    ranks = pd.read_csv(out / "ranks.csv", dtype={"treatment": str})
    assert list(ranks.columns[:7]) == ["treatment", "mean_rank", "median_rank", "rank_lower", "rank_upper", "sucra", "p_best"]
    assert [c for c in ranks.columns if c.startswith("p_rank_")] == [f"p_rank_{k}" for k in range(1, 6)]
    het = pd.read_csv(out / "heterogeneity.csv")
    assert het.loc[0, "median"] == pytest.approx(pub["random"]["tau_median"], abs=0.02)
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 7 and info["engine"] == "exact" and len(info["input_hash"]) == 64
    idata = az.from_netcdf(out / "posterior.nc")
    assert idata.posterior["d"].dims == ("chain", "draw", "treatment")
    assert idata.posterior.attrs["nma_input_hash"] == info["input_hash"]
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "study")
    assert not list(tmp_path.glob(".out.*"))  # no temporary folders left behind


def test_verify_detects_changes(tmp_path):
    data = tmp_path / "c.csv"
    data.write_text((REF / "tsd2_parkinsons.csv").read_text())
    cfg = write_config(tmp_path, PARKINSONS.replace(str(REF / "tsd2_parkinsons.csv"), "c.csv"))
    assert nma("run", str(cfg), "--out", "out", cwd=tmp_path).returncode == 0
    ok = nma("verify", "out", cwd=tmp_path)
    assert ok.returncode == 0 and "outputs are current" in ok.stdout
    data.write_text(data.read_text().replace("-0.31", "-0.32"))
    stale = nma("verify", "out", cwd=tmp_path)
    assert stale.returncode == 1 and "data changed" in stale.stdout


@pytest.mark.slow
def test_non_converging_fit_writes_nothing(tmp_path):
    cfg = write_config(tmp_path, PARKINSONS.replace('engine = "exact"', 'engine = "mcmc"')
                       .replace("seed = 7", "seed = 7\ndraws = 10\ntune = 10\nchains = 2"))
    res = nma("run", str(cfg), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode != 0
    assert "failed the convergence gate" in res.stderr and "No results were written" in res.stderr
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))


@pytest.mark.slow
def test_unconverged_allowed_is_stamped(tmp_path):
    cfg = write_config(tmp_path, PARKINSONS.replace('engine = "exact"', 'engine = "mcmc"\nallow_unconverged = true')
                       .replace("seed = 7", "seed = 7\ndraws = 10\ntune = 10\nchains = 2"))
    res = nma("run", str(cfg), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rel = pd.read_csv(tmp_path / "out" / "relative_effects.csv")
    assert rel["unconverged"].all()
    assert json.loads((tmp_path / "out" / "run.json").read_text())["converged"] is False


@pytest.mark.slow
def test_seed_single_trial_setting_says_tau_not_identified(tmp_path):
    # exact engine: the warning and the fixed-effect file depend on the network, not on the engine (and MCMC costs 20 s)
    res = nma("run", str(ROOT / "analyses" / "extended_adjuvant_idfs.toml"), "--out", str(tmp_path / "out"),
              "--allow-outside", "--engine", "exact", cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "tau is not identified by the data" in res.stdout
    out = tmp_path / "out"
    assert "tau is not identified" in (out / "warnings.txt").read_text()
    fixed = pd.read_csv(out / "relative_effects_fixed.csv").set_index(["treatment", "comparator"])
    # Fixed effect with one trial and a vague N(0, 10^2) prior is the trial's own HR 0.73 with the SE from its CI
    # (0.57, 0.92), made log-symmetric: by hand se = (ln 0.92 - ln 0.57) / 3.919928 = 0.122129, and
    # 0.73 x exp(-/+ 1.959964 x 0.122129) = 0.5746 to 0.9274.
    row = fixed.loc[("neratinib", "placebo")]
    assert (row["exp_median"], row["exp_lower"], row["exp_upper"]) == pytest.approx((0.73, 0.5746, 0.9274), abs=0.001)


def test_bad_config_key_suggests(tmp_path):
    cfg = write_config(tmp_path, PARKINSONS.replace("d_prior_sd", "d_prior_scale"))
    res = nma("run", str(cfg), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode != 0 and "unknown key [model] d_prior_scale; did you mean 'd_prior_sd'?" in res.stderr
    assert not (tmp_path / "out").exists()
