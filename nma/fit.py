"""The only place that runs MCMC, and the convergence gate every fit must pass before it is reported."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

#: Gate thresholds (Vehtari et al. 2021): rank-normalised R-hat and bulk/tail ESS; any divergence fails.
RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass(frozen=True)
class SamplerConfig:
    """4 chains x 2000 draws give ESS >= 1000 on every parameter of the marginalised model in practice;
    2000 tuning steps because the tail of tau (which drives the SD of d) is explored poorly after 1000."""

    seed: int = 20240611
    chains: int = 4
    draws: int = 2000
    tune: int = 2000
    target_accept: float = 0.95
    cores: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def sample(model: pm.Model, config: SamplerConfig) -> az.InferenceData:
    cores = config.cores or min(config.chains, os.cpu_count() or 1)
    with model:
        return pm.sample(draws=config.draws, tune=config.tune, chains=config.chains, cores=cores,
                         random_seed=config.seed, target_accept=config.target_accept, progressbar=False,
                         compute_convergence_checks=False, return_inferencedata=True)


def diagnostics(idata: az.InferenceData, var_names: list[str]) -> tuple[pd.DataFrame, int]:
    """Per scalar parameter: R-hat, bulk and tail ESS, MCSE of the mean; plus the number of divergences."""
    rhat = az.rhat(idata, var_names=var_names)
    bulk = az.ess(idata, var_names=var_names, method="bulk")
    tail = az.ess(idata, var_names=var_names, method="tail")
    mcse = az.mcse(idata, var_names=var_names, method="mean")
    rows = []
    for name in var_names:
        r = rhat[name]
        dims = list(r.dims)
        for idx in np.ndindex(r.shape):
            sel = {dim: r[dim].values[i] for dim, i in zip(dims, idx)}
            label = name + ("[" + ",".join(str(v) for v in sel.values()) + "]" if sel else "")
            rows.append({"parameter": label, "r_hat": float(r.values[idx]), "ess_bulk": float(bulk[name].values[idx]),
                         "ess_tail": float(tail[name].values[idx]), "mcse_mean": float(mcse[name].values[idx])})
    div = int(idata["sample_stats"]["diverging"].sum()) if "sample_stats" in idata.groups() else 0
    return pd.DataFrame(rows), div


def gate(table: pd.DataFrame, divergences: int) -> list[str]:
    """Reasons the fit fails the convergence gate (empty when it passes)."""
    problems = []
    bad = table[~(table["r_hat"] <= RHAT_MAX)]
    if len(bad):
        problems.append(f"R-hat > {RHAT_MAX} for {', '.join(bad['parameter'])} (max {bad['r_hat'].max():.3f})")
    for col in ("ess_bulk", "ess_tail"):
        bad = table[~(table[col] >= ESS_MIN)]
        if len(bad):
            problems.append(f"{col.replace('_', ' ')} < {ESS_MIN} for {', '.join(bad['parameter'])} (min {bad[col].min():.0f})")
    if divergences:
        problems.append(f"{divergences} divergent transition(s)")
    return problems
