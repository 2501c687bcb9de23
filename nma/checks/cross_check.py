"""The exact engine checked against MCMC on the same network and model: agreement in Monte Carlo standard errors.

`[model] cross_check = true` (or `cross_check(fit)` in Python) refits the analysis by NUTS and compares each
posterior mean (every d, and tau) with its exact value: z = (MCMC mean - exact mean) / MCSE. With a correct
sampler and a correct closed form, |z| is standard-normal noise; |z| above 4 for any parameter is a disagreement.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from nma.models.families import MCMC, FitSettings
from nma.models.posterior import Posterior

#: |z| above this for any parameter is reported as a disagreement (P(|N(0,1)| > 4) = 6e-5 per parameter).
Z_MAX = 4.0


def cross_check(network, spec, settings: FitSettings, family, exact: Posterior) -> tuple[pd.DataFrame, list[str]]:
    """Exact means against an MCMC refit of the same model.

    Returns
    -------
    table : DataFrame
        One row per parameter (``d[treatment]`` and ``tau``): ``parameter``, ``exact_mean``, ``mcmc_mean``,
        ``mcse`` (MCSE of the MCMC mean, ArviZ), ``z`` = (mcmc_mean - exact_mean) / mcse, ``ess_bulk``.
    notes : list of str
        One sentence on the agreement (the largest |z|), or what disagreed, or why MCMC failed its gate.
    """
    mcmc = family.fit(network, spec, replace(settings, engine=MCMC))
    if not mcmc.converged:
        return pd.DataFrame(), [f"ModelWarning: cross-check: the MCMC refit failed its convergence gate "
                                f"({'; '.join(mcmc.problems)}), so the exact engine was not compared with it."]
    diag = mcmc.diagnostics.set_index("parameter")
    summary = exact.exact.summarise(np.eye(len(exact.parameters)), ())
    rows = [(f"d[{t}]", m) for t, m in zip(exact.parameters, summary["mean"])]
    if exact.random:
        rows.append(("tau", exact.exact.tau_summary(())["mean"]))
    means = dict(zip([f"d[{t}]" for t in mcmc.parameters], mcmc.flat().mean(0)))
    if mcmc.random:
        means["tau"] = float(mcmc.flat_tau().mean())
    table = pd.DataFrame([{"parameter": name, "exact_mean": value, "mcmc_mean": means[name],
                           "mcse": diag.loc[name, "mcse_mean"], "ess_bulk": diag.loc[name, "ess_bulk"]}
                          for name, value in rows])
    table["z"] = (table["mcmc_mean"] - table["exact_mean"]) / table["mcse"]
    table = table[["parameter", "exact_mean", "mcmc_mean", "mcse", "z", "ess_bulk"]]
    worst = table.loc[table["z"].abs().idxmax()]
    if abs(worst["z"]) > Z_MAX:
        return table, [f"ModelWarning: cross-check: MCMC and the exact engine disagree for {worst['parameter']} "
                       f"(z = {worst['z']:.1f} MCSE); see cross_check.csv."]
    return table, [f"Cross-check: MCMC ({settings.sampler.chains} x {settings.sampler.draws} draws) agrees with the "
                   f"exact engine for all {len(table)} parameters: largest |z| = {abs(worst['z']):.2f} MCSE "
                   f"({worst['parameter']})."]
