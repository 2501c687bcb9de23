"""Shared test helpers: the TSD2 Example 7 network and its published results."""

from __future__ import annotations

import json
from pathlib import Path

from nma.core.network import Network
from nma.inputs.contrasts import load_contrasts
from nma.models.normal_pymc import build_model
from nma.models.priors import parse_tau_prior
from nma.models.sampler import SamplerConfig, diagnostics, gate, sample
from nma.models.spec import ModelSpec

REF = Path(__file__).resolve().parent / "reference"


def parkinsons() -> Network:
    return Network.from_contrasts(load_contrasts(REF / "tsd2_parkinsons.csv"), reference="1")


def tsd2_published() -> dict:
    return json.loads((REF / "tsd2_parkinsons.json").read_text())


def tsd2_spec(effects: str) -> ModelSpec:
    return ModelSpec(effects=effects, d_prior_sd=100.0, tau_prior=parse_tau_prior("uniform(0, 5)"))


def mcmc(net: Network, spec: ModelSpec, config: SamplerConfig = SamplerConfig(seed=11)):
    idata = sample(build_model(net, spec), config)
    names = ["d"] + (["tau"] if spec.effects == "random" else [])
    table, divergences = diagnostics(idata, names)
    assert gate(table, divergences) == [], table
    return idata


def exact_draws(seed: int, n: int):
    """Fit settings for the exact engine drawing n samples (4 chains) with `seed`, as a run with that seed does."""
    from nma.models.families import FitSettings

    return FitSettings(engine="exact", sampler=SamplerConfig(seed=seed, chains=4, draws=n // 4))
