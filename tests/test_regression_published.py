"""NICE DSU TSD3's BCG vaccine meta-regression (binomial, random effects, latitude) reproduced by the PyMC model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nma.core.arms import ArmNetwork
from nma.models.priors import parse_tau_prior
from nma.models.regression import Regression
from nma.models.spec import ModelSpec

REF = Path(__file__).resolve().parent / "reference"


def tolerance(published: float, mcse: float) -> float:
    """The pinned tolerance: 5% relative or half a unit of the published value's last decimal (the larger), plus
    3 Monte Carlo SEs of our own estimate (both sides are MCMC estimates)."""
    decimals = len(repr(published).split(".")[1]) if "." in repr(published) else 0
    return max(0.05 * abs(published), 0.5 * 10.0**-decimals) + 3 * mcse


def estimate(x, key: str) -> tuple[float, float]:
    """A posterior statistic of draws x (chain, draw) and its Monte Carlo SE (ArviZ; the SD's by the delta method)."""
    import arviz as az

    from nma.models.sampler import mcse_sd

    flat = x.values.ravel()
    data = az.convert_to_dataset({"v": x.values})
    if key == "mean":
        return float(flat.mean()), float(az.mcse(data)["v"])
    if key == "sd":
        return float(flat.std(ddof=1)), mcse_sd(x)
    q = {"median": 0.5, "lower": 0.025, "upper": 0.975}[key]
    return float(np.quantile(flat, q)), float(az.mcse(data, method="quantile", prob=q)["v"])


@pytest.mark.slow
def test_tsd3_bcg_latitude_regression():
    from nma.models.regression_pymc import build_binomial_regression_model
    from nma.models.sampler import SamplerConfig, diagnostics, gate, sample

    pub = json.loads((REF / "tsd3_bcg.json").read_text())
    arms = pd.read_csv(REF / "tsd3_bcg.csv", dtype={"study": str})
    net = ArmNetwork.from_arms(arms[["study", "treatment", "r", "n"]], reference="Unvaccinated")
    latitude = arms.groupby("study")["latitude"].first().astype(float).to_dict()
    spec = ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=parse_tau_prior("half-normal(5)"), measure="OR")
    model = build_binomial_regression_model(net, spec, Regression("latitude", centre=33.46), latitude)
    idata = sample(model, SamplerConfig(seed=7, chains=4, draws=2000, tune=1000, target_accept=0.99))
    table, div = diagnostics(idata, ["beta", "tau"])
    assert gate(table, div) == [], table
    beta = idata["posterior"]["beta"]
    names = list(beta["parameter"].values)
    post = idata["posterior"]
    got = {"d": post["beta"].sel(parameter="d[Vaccinated]"), "beta": post["beta"].sel(parameter="B[latitude]"),
           "tau": post["tau"]}
    assert list(post["beta"]["parameter"].values) == ["d[Vaccinated]", "B[latitude]"]
    for name, x in got.items():
        for key, published in pub["regression"][name].items():
            value, mcse = estimate(x.transpose("chain", "draw"), key)
            assert abs(value - published) <= tolerance(published, mcse), (name, key, value, published, mcse)
