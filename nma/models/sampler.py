"""The only place that runs MCMC, and the convergence gate every fit must pass before it is reported.

PyMC and ArviZ are imported inside the functions that use them, so a run on the exact engine never loads them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

#: Gate thresholds (Vehtari et al. 2021): rank-normalised R-hat and bulk/tail ESS; any divergence fails.
RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass(frozen=True)
class SamplerConfig:
    """4 chains x 1000 draws: with the conditional parameterisation (model.py) bulk ESS is about the number of
    draws for every d and tau (measured 8500-11000 from 8000 draws on TSD2 Example 7), so >= 1000 with room."""

    seed: int = 20240611
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.95
    cores: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def sample(model, config: SamplerConfig):
    """NUTS, one chain per core. BLAS is held to one thread while the chain processes fork: when the caller's
    NumPy already runs a threaded BLAS (e.g. a notebook that did not set OPENBLAS_NUM_THREADS), forked
    chains oversubscribe the two cores and a 10-second fit takes many minutes."""
    import pymc as pm

    cores = config.cores or min(config.chains, os.cpu_count() or 1)
    with model, threadpool_limits(limits=1):
        return pm.sample(draws=config.draws, tune=config.tune, chains=config.chains, cores=cores,
                         random_seed=config.seed, target_accept=config.target_accept, progressbar=False,
                         compute_convergence_checks=False, return_inferencedata=True,
                         mp_ctx="fork")


def diagnostics(idata, var_names: list[str]) -> tuple[pd.DataFrame, int]:
    """Per scalar parameter: R-hat, bulk and tail ESS, MCSE of the mean; plus the number of divergences."""
    import arviz as az

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


def mcse_sd(x) -> float:
    """Monte Carlo SE of a posterior SD, by the delta method on the squared deviations and their ESS.

    Computed here because arviz 0.23's ``mcse(method="sd")`` can crash on its numba path with NumPy 2.4.
    For heavy-tailed posteriors (a d whose spread is driven by the tail of tau) it is much larger than the
    MCSE of the mean suggests.
    """
    import arviz as az

    sq = (x - x.mean()) ** 2
    ess = float(az.ess(np.asarray(sq.transpose("chain", "draw"))))
    sd = float(x.std())
    return float(sq.std()) / np.sqrt(ess) / (2 * sd)


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
