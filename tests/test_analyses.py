"""Every shipped analysis config parses, selects its evidence and forms a connected network (no MCMC); the binary
ones with counts that reproduce the rates they were derived from."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from nma.app.assemble import analysis_network
from nma.app.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "analyses").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_analysis_builds_its_network(path):
    cfg = load_config(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # selection warnings are part of the run's report
        net = analysis_network(cfg).network
    assert len(net.treatments) >= 2
    if cfg.binary:   # every count entered either as typed or as the one count giving its printed rate
        arms = net.arms
        assert (arms["r"] <= arms["n"]).all()
        for r in arms[arms["responders_derivation"] != ""].itertuples(index=False):
            rate = r.responders_derivation.split(" gives ")[1].split("%")[0]
            decimals = len(rate.split(".")[1]) if "." in rate else 0
            assert round(100 * r.r / r.n, decimals) == pytest.approx(float(rate), abs=0.5 * 10 ** -decimals)
