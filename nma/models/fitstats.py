"""PSIS-LOO from the per-study log-likelihood, for every family (nma.posterior.psis: ArviZ's arithmetic)."""

from __future__ import annotations

import numpy as np

from nma.posterior.psis import psis_loo


def loo_summary(log_lik: np.ndarray, posterior: list[np.ndarray]) -> dict:
    """PSIS-LOO from the per-study log-likelihood (chain, draw, study), with the Pareto-k diagnostics; `posterior`:
    the posterior's variables (chain, draw, ...), for the relative efficiency of the draws."""
    loo = psis_loo(log_lik, posterior)
    k = loo["pareto_k"]
    return {"elpd_loo": float(loo["elpd_loo"]), "se_elpd_loo": float(loo["se"]), "p_loo": float(loo["p_loo"]),
            "looic": float(-2 * loo["elpd_loo"]), "max_pareto_k": float(k.max()), "n_pareto_k_above_0.7": int((k > 0.7).sum()),
            "pareto_k": k}
