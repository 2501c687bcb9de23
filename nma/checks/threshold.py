"""Threshold analysis (Phillippo et al. 2018, JRSS A 181:1177; the R package nmathresh): how far each data point, or
each contrast's combined evidence, can move before the recommended treatment changes.

For a normal likelihood the posterior mean of the basic parameters is linear in the data, E(d | y) = H y + c, so
adding a bias adjustment U to data point m moves d by U H[:, m] and every contrast d_k - d_k* by
U (H[k, m] - H[k*, m]). The thresholds are the smallest positive and largest negative U at which some treatment
overtakes the base-case optimal k* (the best posterior mean, in the direction of `lower_is_better`).

Which H:

- **Study level.** H = Sigma X' W with W = (V + tau^2 C)^-1 and Sigma = (X' W X + I / sd_d^2)^-1: the network's
  design X, likelihood covariance V and multi-arm correlation C (`Network.design`, `.covariance`,
  `.multi_arm_correlation`) and the d prior's SD (`ModelSpec.d_prior_sd`). Under fixed effect tau = 0 and this is
  nmathresh's `post %*% t(X) %*% solve(V)` with the exact posterior covariance. Under random effects tau is fixed
  at its **posterior median** (nmathresh likewise treats tau as known; it takes the covariance of (d, delta) from
  MCMC, which for a given tau is the same H by the Woodbury identity). Computed from the model, not from draws, so
  it has no Monte Carlo error on either engine.
- **Contrast level.** As nmathresh's `recon_vcov`: one hypothetical data point per directly compared pair, whose
  likelihood precisions are found by non-negative least squares so that X_c' diag(p) X_c matches the posterior
  precision minus the prior precision; then H = Sigma X_c' diag(p) with Sigma the fit's posterior covariance of d
  (the exact mixture's, or the draws').

The base-case decision uses the fit's posterior means of d (as nmathresh uses `mean.dk`). NumPy and SciPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from nma.constants import CI_PROB, COMPARATOR, STUDY, TREATMENT
from nma.errors import ModelSpecError

LEVELS = ("study", "contrast")

#: Columns of every threshold table, in order (documented in `threshold`).
COLUMNS = ("level", STUDY, TREATMENT, COMPARATOR, "estimate", "se", "ci_lower", "ci_upper", "optimal",
           "lower_threshold", "lower_new_optimal", "upper_threshold", "upper_new_optimal", "invariant_lower",
           "invariant_upper", "coverage", "sensitive")


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of N data points: lower (<= 0, -inf when none) and upper (>= 0, +inf when none), with the index of
    the treatment that becomes optimal there (-1 when none); `optimal` is the base case's index."""

    lower: np.ndarray
    lower_new: np.ndarray
    upper: np.ndarray
    upper_new: np.ndarray
    optimal: int


def influence(X: np.ndarray, V: np.ndarray, *, prior_sd: float, tau: float = 0.0,
              C: np.ndarray | None = None) -> np.ndarray:
    """H (p x N) with E(d | y) = H y for the normal model y ~ N(X d, V + tau^2 C), d ~ N(0, prior_sd^2 I)."""
    X, V = np.asarray(X, float), np.asarray(V, float)
    M = V if tau == 0 or C is None else V + tau**2 * np.asarray(C, float)
    W = np.linalg.inv(M)
    P = X.T @ W @ X + np.eye(X.shape[1]) / prior_sd**2
    return np.linalg.solve(P, X.T @ W)


def influence_from_posterior(post_cov: np.ndarray, X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """H = Sigma X' V^-1: nmathresh's fixed-effect influence matrix from a posterior covariance Sigma and the
    likelihood covariance V, a matrix or the variances of a diagonal one (an infinite variance, a contrast without
    data, gives a zero column)."""
    X, V = np.asarray(X, float), np.asarray(V, float)
    if V.ndim == 1:
        with np.errstate(divide="ignore"):
            XtW = X.T * np.where(np.isfinite(V), 1.0 / V, 0.0)[None, :]
    else:
        XtW = np.linalg.solve(V, X).T
    return np.asarray(post_cov, float) @ XtW


def reconstruct_likelihood(post_cov: np.ndarray, X: np.ndarray, prior_prec: float) -> np.ndarray:
    """Likelihood variances (one per row of X, a contrast with data) that a fixed-effect NMA with one data point
    per contrast would need to give the posterior covariance `post_cov`: nmathresh's `recon_vcov` (NNLS on the
    lower triangle of posterior minus prior precision). Rows with precision 0 get an infinite variance."""
    X = np.asarray(X, float)
    D = np.linalg.inv(np.asarray(post_cov, float)) - prior_prec * np.eye(X.shape[1])
    low = np.tril_indices(X.shape[1])
    R = np.stack([np.outer(x, x)[low] for x in X], axis=1)
    prec, _ = optimize.nnls(R, D[low])
    with np.errstate(divide="ignore"):
        return np.where(prec > 0, 1.0 / prec, np.inf)


def solve_thresholds(mean_d: np.ndarray, H: np.ndarray, *, lower_is_better: bool, mid: float = 0.0) -> Thresholds:
    """Thresholds for every column of H (a data point) for the decision "which treatment is best".

    `mid` (model scale, >= 0) is nmathresh's ``mcid.type = "change"``: the decision changes only when another
    treatment becomes better than the base-case optimal by at least `mid`.
    """
    if not mid >= 0:
        raise ModelSpecError(f"mid={mid!r}: the minimal important difference on the model scale must be >= 0")
    d = np.concatenate([[0.0], np.asarray(mean_d, float)])
    G = np.vstack([np.zeros((1, H.shape[1])), np.asarray(H, float)])       # (T, N): influence on every d_k
    k_star = int(np.argmin(d) if lower_is_better else np.argmax(d))
    others = np.array([k for k in range(len(d)) if k != k_star])
    diff = d[others] - d[k_star]                                           # (K-1,) base contrasts vs k*
    slope = G[others] - G[k_star]                                          # (K-1, N)
    target = -np.sign(diff) * mid                                          # the contrast must cross -/+ mid
    with np.errstate(divide="ignore", invalid="ignore"):
        U = (target - diff)[:, None] / slope
    U = np.where(np.isfinite(U), U, np.nan)
    pos = np.where(U > 0, U, np.inf)
    neg = np.where(U < 0, U, -np.inf)
    hi_i, lo_i = pos.argmin(0), neg.argmax(0)
    hi, lo = pos.min(0), neg.max(0)
    return Thresholds(lo, np.where(np.isfinite(lo), others[lo_i], -1), hi, np.where(np.isfinite(hi), others[hi_i], -1),
                      k_star)


def _table(level, studies, treat, comp, est, se, ci_lo, ci_hi, th: Thresholds, names) -> pd.DataFrame:
    name = np.array([str(t) for t in names] + [""], dtype=object)          # index -1 -> ""
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.fmin(th.lower / (ci_lo - est), th.upper / (ci_hi - est))
    out = pd.DataFrame({"level": level, STUDY: studies, TREATMENT: treat, COMPARATOR: comp, "estimate": est, "se": se,
                        "ci_lower": ci_lo, "ci_upper": ci_hi, "optimal": str(names[th.optimal]),
                        "lower_threshold": th.lower, "lower_new_optimal": name[th.lower_new],
                        "upper_threshold": th.upper, "upper_new_optimal": name[th.upper_new],
                        "invariant_lower": est + th.lower, "invariant_upper": est + th.upper, "coverage": cover})
    out["sensitive"] = out["coverage"] < 1
    return out[list(COLUMNS)]


def posterior_mean_cov(posterior) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and covariance of d: the exact mixture's (law of total variance) or the draws'."""
    exact = getattr(posterior, "exact", None)
    if exact is not None:
        w = exact.weight
        mean = w @ exact.mean
        dev = exact.mean - mean
        cov = np.einsum("g,gij->ij", w, exact.cov) + np.einsum("g,gi,gj->ij", w, dev, dev)
        return mean, cov
    flat = posterior.flat()
    return flat.mean(0), np.atleast_2d(np.cov(flat, rowvar=False))


def study_thresholds(network, spec, posterior, *, mid: float = 0.0, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Study-level thresholds: one row per data point (a study's arm versus its baseline), see `threshold`."""
    tau = 0.0
    if spec.effects == "random":
        tau = float(posterior.tau_summary((0.5,))[0.5])
    H = influence(network.design, network.covariance, prior_sd=spec.d_prior_sd, tau=tau,
                  C=network.multi_arm_correlation)
    mean_d, _ = posterior_mean_cov(posterior)
    th = solve_thresholds(mean_d, H, lower_is_better=spec.lower_is_better, mid=mid)
    arms = network.arms
    y, se = arms["y"].to_numpy(float), arms["se"].to_numpy(float)
    z = special.ndtri((1 + ci_prob) / 2)
    return _table("study", arms[STUDY].astype(str).to_numpy(), arms[TREATMENT].to_numpy(), arms["baseline"].to_numpy(),
                  y, se, y - z * se, y + z * se, th, network.treatments)


def contrast_design(network) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One row per directly compared pair, later treatment (in `network.treatments`) versus the earlier."""
    pos = {t: i for i, t in enumerate(network.treatments)}
    pairs = sorted({tuple(sorted((pos[a], pos[b]))) for a, b in
                    network.comparisons[["treatment_a", "treatment_b"]].itertuples(index=False)})
    X = np.zeros((len(pairs), len(network.treatments) - 1))
    for r, (a, b) in enumerate(pairs):
        X[r, b - 1] += 1.0
        if a > 0:
            X[r, a - 1] -= 1.0
    return X, pairs


def contrast_thresholds(network, spec, posterior, *, mid: float = 0.0, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Contrast-level thresholds: one row per directly compared pair, see `threshold`."""
    mean_d, cov = posterior_mean_cov(posterior)
    X, pairs = contrast_design(network)
    lik_var = reconstruct_likelihood(cov, X, 1.0 / spec.d_prior_sd**2)
    H = influence_from_posterior(cov, X, lik_var)
    th = solve_thresholds(mean_d, H, lower_is_better=spec.lower_is_better, mid=mid)
    est = X @ mean_d
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    if getattr(posterior, "exact", None) is not None:
        s = posterior.exact.summarise(X, (lo_q, hi_q))
        ci_lo, ci_hi = s[lo_q], s[hi_q]
    else:
        x = posterior.flat() @ X.T
        ci_lo, ci_hi = np.quantile(x, lo_q, axis=0), np.quantile(x, hi_q, axis=0)
    t = network.treatments
    return _table("contrast", "", [t[b] for _, b in pairs], [t[a] for a, _ in pairs], est, np.sqrt(lik_var),
                  np.asarray(ci_lo), np.asarray(ci_hi), th, t)


def threshold(fit, level: str = "study", mid: float | None = None) -> pd.DataFrame:
    """Threshold analysis of a normal-likelihood fit (Phillippo et al. 2018): how much each study's estimate
    (``level="study"``) or each contrast's combined evidence (``level="contrast"``) could change, e.g. through a bias
    adjustment, before the optimal treatment (best posterior mean, in the direction of ``lower_is_better``) changes.

    Parameters
    ----------
    fit : Fit
        From ``nma.fit`` on a contrast-level ``Network`` (either engine).
    level : {"study", "contrast"}
        Study level: one row per data point (a study's arm versus its baseline; a multi-arm study gives several).
        Contrast level: one row per directly compared pair, as nmathresh's ``recon_vcov``.
    mid : float, optional
        A minimal important difference on the shown scale (a ratio such as 0.8 or 1.25, or a difference): the decision
        changes only when another treatment becomes better than the optimal by at least this much (nmathresh's
        ``mcid.type = "change"``). Default: any improvement changes it.

    Returns
    -------
    pandas.DataFrame
        One row per data point, model scale (log-ratio or difference): ``level``; ``study`` (empty at contrast level);
        ``treatment``, ``comparator`` (the estimate is treatment versus comparator); ``estimate`` (the study's y, or
        the posterior mean of the contrast); ``se`` (the study's, or the reconstructed likelihood's); ``ci_lower``,
        ``ci_upper`` (the study's own 95% CI, or the contrast's 95% CrI); ``optimal`` (base-case best treatment);
        ``lower_threshold`` (<= 0; -inf when no negative change alters the decision) and ``lower_new_optimal`` (the
        treatment optimal beyond it, empty when none); ``upper_threshold`` (>= 0; +inf when none),
        ``upper_new_optimal``; ``invariant_lower``, ``invariant_upper`` (estimate + thresholds: the decision-invariant
        interval); ``coverage`` (the smaller of threshold / CI half-width on each side: below 1 the threshold lies
        inside the interval); ``sensitive`` (coverage < 1: the decision is sensitive to plausible imprecision or
        bias in this estimate).

    Raises
    ------
    ModelSpecError
        For a level other than "study" or "contrast", a network without normal likelihood (binomial arm data), or a
        mid on the wrong side of the null.
    """
    if level not in LEVELS:
        raise ModelSpecError(f"level={level!r}: use 'study' (each study's data point) or 'contrast' (each compared pair)")
    network, spec, posterior = fit.network, fit.spec, fit.posterior
    if not hasattr(network, "covariance") or not hasattr(network, "arms") or "y" not in network.arms:
        raise ModelSpecError(f"threshold analysis needs a normal likelihood (contrast-level Network); this fit is of a "
                             f"{type(network).__name__}. Fix: fit a Network.from_contrasts / from_ratios network")
    mid_model = 0.0 if mid is None else mid_on_model_scale(mid, network.measure, spec.lower_is_better)
    f = study_thresholds if level == "study" else contrast_thresholds
    return f(network, spec, posterior, mid=mid_model)


def mid_on_model_scale(mid: float, measure, lower_is_better: bool) -> float:
    """A shown-scale MID (ratio 0.8 when lower is better, 1.25 when higher is; or a difference) as a model-scale size."""
    if isinstance(mid, bool) or not isinstance(mid, (int, float)) or not np.isfinite(mid):
        raise ModelSpecError(f"mid={mid!r} must be a number, e.g. 0.8 (a ratio) or 2.0 (a difference)")
    if measure.is_ratio:
        if not mid > 0 or mid == 1 or (mid < 1) != lower_is_better:
            side = "below 1, e.g. 0.8" if lower_is_better else "above 1, e.g. 1.25"
            raise ModelSpecError(f"mid={mid!r}: with lower_is_better={lower_is_better} the MID is a ratio {side}. "
                                 "Fix: pass the ratio just worth having")
        return abs(float(np.log(mid)))
    return abs(float(mid))
