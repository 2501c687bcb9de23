"""Engines: "auto" picks the exact engine wherever the family has one; MCMC compiles once per structure and is
bit-reproducible; the cross-check and the checks switch of a config."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import REF, parkinsons, tsd2_spec
from test_run import PARKINSONS, nma, write_config

import nma as api
from nma.app.config import load_config
from nma.app.run import fit_config, prepare
from nma.errors import ConfigError
from nma.models import sampler
from nma.models.normal_pymc import build_model
from nma.models.priors import parse_tau_prior
from nma.models.sampler import SamplerConfig, diagnostics, sample

ROOT = Path(__file__).resolve().parents[1]
#: Pinned posterior means and MCSEs of the previous default engine (PyMC NUTS), with the call that made them.
PREVIOUS = json.loads((REF / "previous_mcmc_outputs.json").read_text())
SMALL = SamplerConfig(seed=3, chains=2, draws=400, tune=400)


def test_shipped_configs_leave_the_engine_to_auto():
    for path in sorted((ROOT / "analyses").glob("*.toml")):
        assert load_config(path).engine == "auto", path.name


@pytest.mark.parametrize("name", sorted(PREVIOUS["analyses"]))
def test_exact_default_matches_the_previous_mcmc_outputs_within_mcse(name):
    """Two shipped analyses, now on the exact engine by default, against the posterior means the previous default
    (PyMC NUTS, 4 x 1000) wrote: each within 4 of that run's MCSE (the exact means carry no Monte Carlo error)."""
    cfg = load_config(ROOT / "analyses" / f"{name}.toml")
    fitted = fit_config(prepare(cfg, cfg.engine), cfg.engine)
    assert fitted.engine == "exact"
    pinned = PREVIOUS["analyses"][name]
    rel = fitted.relative_effects(pinned["reference"]).set_index("treatment")
    for parameter, value in pinned["parameters"].items():
        now = fitted.heterogeneity()["mean"].iloc[0] if parameter == "tau" else rel.loc[parameter[2:-1], "mean"]
        assert abs(now - value["mean"]) < 4 * value["mcse"], (name, parameter, now, value)


def _d_mean(idata) -> np.ndarray:
    return idata.posterior["d"].mean(("chain", "draw")).to_numpy()


@pytest.mark.slow
def test_same_structure_compiles_once_and_the_data_are_used():
    """A second network of the same shape (other y), and another half-normal scale, reuse the compiled sampler;
    its draws follow the new data (the exact posterior of the new network, within 5 MCSE); and the same model
    with the same seed gives the same draws bit for bit."""
    net = parkinsons()
    spec = replace(tsd2_spec("random"), tau_prior=parse_tau_prior("half-normal(1)"))
    first = sample(build_model(net, spec), SMALL)
    traces = sampler.TRACES["count"]
    shifted = api.Network.from_contrasts(net.contrasts.assign(y=net.contrasts["y"] + 0.3), reference="1")
    second = sample(build_model(shifted, spec), SMALL)
    other_prior = sample(build_model(net, replace(spec, tau_prior=parse_tau_prior("half-normal(0.5)"))), SMALL)
    assert sampler.TRACES["count"] == traces
    again = sample(build_model(net, spec), SMALL)
    assert np.array_equal(first.posterior["d"].to_numpy(), again.posterior["d"].to_numpy())
    assert not np.array_equal(first.posterior["tau"].to_numpy(), other_prior.posterior["tau"].to_numpy())
    exact = api.fit(shifted, spec=spec, engine="exact").relative_effects("1").set_index("treatment")
    table, divergences = diagnostics(second, ["d"])
    assert divergences == 0
    for treatment, mean, mcse in zip(shifted.treatments[1:], _d_mean(second), table["mcse_mean"]):
        assert abs(mean - exact.loc[treatment, "mean"]) < 5 * mcse, treatment


def test_checks_false_runs_no_check_and_says_so(tmp_path):
    cfg = write_config(tmp_path, PARKINSONS.replace('engine = "exact"', "checks = false"))
    res = nma("run", str(cfg), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    assert not any((out / f).exists() for f in ("nodesplit.csv", "ume.csv", "sensitivity.csv"))
    assert "no model checks were run" in (out / "warnings.txt").read_text()
    assert json.loads((out / "run.json").read_text())["engine"] == "exact"


@pytest.mark.parametrize("extra, message", [('engine = "mcmc"\ncross_check = true', "run uses engine = \"mcmc\"")])
def test_cross_check_needs_the_exact_engine(tmp_path, extra, message):
    cfg = write_config(tmp_path, PARKINSONS.replace('engine = "exact"', extra))
    res = nma("run", str(cfg), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode != 0 and message in res.stderr and "Fix:" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cross_check_agrees_on_tsd2_example_7():
    """MCMC against the exact engine on TSD2 Example 7: every |z| within 4 MCSE (fixed seed)."""
    fitted = api.fit(parkinsons(), spec=tsd2_spec("random"), engine="auto", seed=5)
    table, notes = fitted.cross_check()
    assert len(table) == len(parkinsons().treatments)          # every d and tau
    assert (table["z"].abs() < 4).all(), table
    assert notes[0].startswith("Cross-check: MCMC")


def test_cross_check_refuses_an_mcmc_fit():
    fitted = api.fit(parkinsons(), spec=tsd2_spec("fixed"), engine="exact")
    with pytest.raises(api.NMAError if hasattr(api, "NMAError") else Exception, match="Fix:"):
        replace(fitted, settings=replace(fitted.settings, engine="mcmc")).cross_check()
