"""The binomial family's NumPy side: fitted probabilities, pointwise log-likelihood and TSD2 residual deviance from the
draws of mu and delta (arm-level studies), and the normal contrast model's for a mixed network's contrast studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from nma.constants import CONTRAST, STUDY
from nma.core.arms import ArmNetwork


# ---- draws in, per-study numbers out (NumPy only) -----------------------------------------------
def local_d(net: ArmNetwork, all_draws: np.ndarray) -> np.ndarray:
    """Basic parameters of the contrast part in its own coordinates (its treatments[1:] vs its reference)."""
    idx = net.contrast_treatment_index
    return all_draws[:, idx[1:]] - all_draws[:, idx[:1]]


def fitted_probabilities(net: ArmNetwork, mu: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """p_ik = logistic(mu_i + delta_ik) per draw and arm: (n_draws, n_arms). mu (n, S), delta (n, non-baseline arms)."""
    padded = np.concatenate([np.zeros((len(mu), 1)), delta], axis=1)
    return special.expit(mu[:, net.study_of_arm] + padded[:, net.delta_position])


def binomial_deviance(r: np.ndarray, n: np.ndarray, rhat: np.ndarray) -> np.ndarray:
    """TSD2's residual deviance of binomial data: 2 [r log(r / rhat) + (n - r) log((n - r) / (n - rhat))].

    0 log 0 = 0, so zero cells (r = 0 or r = n) contribute only their other term."""
    return 2 * (special.xlogy(r, r) - special.xlogy(r, rhat) + special.xlogy(n - r, n - r) - special.xlogy(n - r, n - rhat))


def _per_study(net: ArmNetwork, per_arm: np.ndarray) -> np.ndarray:
    """Sum arm columns (..., n_arms) into arm-level study columns (..., n_arm_studies)."""
    out = np.zeros(per_arm.shape[:-1] + (len(net.arm_studies),))
    np.add.at(out.T, net.study_of_arm, per_arm.T)
    return out


def study_log_likelihood(net: ArmNetwork, mu: np.ndarray, delta: np.ndarray, all_draws: np.ndarray,
                         tau: np.ndarray | None) -> np.ndarray:
    """Pointwise log-likelihood (n_draws, studies) in `net.studies` order: binomial given (mu, delta) for the
    arm-level studies; the contrast model's (delta integrated out) for the contrast-level ones."""
    from nma.models.normal import study_log_likelihood as contrast_ll

    p = fitted_probabilities(net, mu, delta)
    r, n = net.arms["r"].to_numpy(float), net.arms["n"].to_numpy(float)
    parts = [_per_study(net, stats.binom.logpmf(r, n, p))]
    if net.contrast is not None:
        parts.append(contrast_ll(net.contrast, local_d(net, all_draws), tau))
    return np.concatenate(parts, axis=1)


def model_fit(net: ArmNetwork, mu: np.ndarray, delta: np.ndarray, all_draws: np.ndarray,
              tau: np.ndarray | None) -> tuple[pd.DataFrame, dict]:
    """TSD2 model fit per study: posterior mean residual deviance (binomial for arm-level studies, summed over
    arms), leverage = mean deviance - deviance at the posterior mean of the fitted counts rhat = n p, and DIC."""
    from nma.models.normal import model_fit as contrast_fit

    p = fitted_probabilities(net, mu, delta)
    r, n = net.arms["r"].to_numpy(float), net.arms["n"].to_numpy(float)
    mean_dev = _per_study(net, binomial_deviance(r, n, n * p).mean(0))
    dev_at_mean = _per_study(net, binomial_deviance(r, n, n * p.mean(0)))
    points = np.bincount(net.study_of_arm, minlength=len(net.arm_studies))
    table = pd.DataFrame({"study": net.arm_studies, "n_datapoints": points, "resdev": mean_dev,
                          "leverage": mean_dev - dev_at_mean, "dic": 2 * mean_dev - dev_at_mean})
    if net.contrast is not None:
        table = pd.concat([table, contrast_fit(net.contrast, local_d(net, all_draws), tau)[0]], ignore_index=True)
    totals = {"resdev": float(table["resdev"].sum()), "n_datapoints": int(table["n_datapoints"].sum()),
              "pD": float(table["leverage"].sum()), "DIC": float(table["dic"].sum())}
    return table, totals


def flat_draws(idata, name: str, dim: str | None = None) -> np.ndarray:
    """A posterior variable flattened over chain and draw: (n,) for a scalar, (n, dim) otherwise."""
    x = idata["posterior"][name].stack(sample=("chain", "draw"))
    return (x.transpose("sample", dim) if dim is not None else x).to_numpy()


def arm_draws(idata) -> tuple[np.ndarray, np.ndarray]:
    """mu (n, studies) and delta (n, contrasts), flattened over chain and draw like `d`."""
    return flat_draws(idata, "mu", STUDY), flat_draws(idata, "delta", CONTRAST)


