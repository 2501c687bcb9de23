"""PSIS-LOO (ArviZ) from the per-study log-likelihood, for every family."""

from __future__ import annotations

import numpy as np


def loo_summary(idata) -> dict:
    """PSIS-LOO from the per-study log-likelihood, with the Pareto-k diagnostics (ArviZ)."""
    import arviz as az

    loo = az.loo(idata, pointwise=True)
    k = np.asarray(loo.pareto_k)
    return {"elpd_loo": float(loo.elpd_loo), "se_elpd_loo": float(loo.se), "p_loo": float(loo.p_loo),
            "looic": float(-2 * loo.elpd_loo), "max_pareto_k": float(k.max()), "n_pareto_k_above_0.7": int((k > 0.7).sum()),
            "pareto_k": k}
