"""PSIS-LOO (Vehtari, Gelman and Gabry 2017) from per-study log-likelihood draws, without ArviZ.

The same arithmetic as ArviZ 0.23's `az.loo(pointwise=True)` (Pareto-smoothed importance weights per study, the
split-chain ESS of the mean for the relative efficiency), so its numbers are ArviZ's (tests/test_psis.py compares
them). Written here because LOO is all an exact-engine run needed ArviZ for, and `import arviz` costs 1.5 s of every
such run (it compiles a numba ufunc at import).
"""

from __future__ import annotations

import numpy as np
from scipy.fft import next_fast_len


def logsumexp(x: np.ndarray, n_inv: int | None = None) -> float:
    """log(sum(exp(x))) of a 1-D array, or log(mean(exp(x))) with `n_inv` = len(x) (ArviZ's order of operations)."""
    top = x.max()
    out = np.log(np.exp(x - top).sum())
    return float(out + (top - np.log(n_inv) if n_inv is not None else top))


def ess_mean(x: np.ndarray) -> float:
    """Split-chain effective sample size of the mean of `x` (chain, draw): Geyer's initial monotone sequence."""
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any() or x.shape[1] < 4:
        return np.nan
    half = x.shape[1] // 2
    x = np.vstack([x[:, :half], x[:, -half:]])
    if (x.max() - x.min()) < np.finfo(float).resolution:
        return float(x.size)
    n_chain, n_draw = x.shape
    centred = x - x.mean(axis=1, keepdims=True)
    m = next_fast_len(2 * n_draw)
    f = np.fft.rfft(centred, n=m, axis=1)
    f *= np.conjugate(f)
    acov = np.fft.irfft(f, n=m, axis=1)[:, :n_draw] / n_draw
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(x.mean(axis=1), ddof=1)
    rho = np.zeros(n_draw)
    even, odd = 1.0, 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[0], rho[1] = even, odd
    t = 1
    while t < n_draw - 3 and even + odd > 0.0:
        even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if even + odd >= 0:
            rho[t + 1], rho[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1: max_t + 2])
    tau = max(tau, 1 / np.log10(n_chain * n_draw))
    return np.nan if np.isnan(rho).any() else n_chain * n_draw / tau


def relative_efficiency(posterior: list[np.ndarray]) -> float:
    """Mean ESS of the mean over every element of the posterior's variables (chain, draw, ...), per draw; 1 for one
    chain. It enters PSIS only through the integer size of the tail (ceil of 3 sqrt(n / r_eff))."""
    n_chain, n_draw = posterior[0].shape[:2]
    if n_chain == 1:
        return 1.0
    ess = [ess_mean(v.reshape(n_chain, n_draw, -1)[:, :, i]) for v in posterior
           for i in range(int(np.prod(v.shape[2:], dtype=int)))]
    return float(np.mean(ess)) / (n_chain * n_draw)


def _gpd_fit(x: np.ndarray) -> tuple[float, float]:
    """Generalised Pareto shape k and scale of sorted exceedances (Zhang and Stephens 2009, weakly regularised k)."""
    n = len(x)
    m = 30 + int(n ** 0.5)
    b = 1 - np.sqrt(m / (np.arange(1, m + 1, dtype=float) - 0.5))
    b /= 3 * x[int(n / 4 + 0.5) - 1]
    b += 1 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    length = n * (np.log(-(b / k)) - k - 1)
    w = 1 / np.exp(length - length[:, None]).sum(axis=1)
    keep = w >= 10 * np.finfo(float).eps
    if not np.all(keep):
        w, b = w[keep], b[keep]
    w /= w.sum()
    b_post = np.sum(b * w)
    k_post = np.log1p(-b_post * x).mean()
    sigma = -k_post / b_post
    return (n * k_post + 10 * 0.5) / (n + 10), sigma


def _gpd_quantiles(p: np.ndarray, k: float, sigma: float) -> np.ndarray:
    """Quantiles of the generalised Pareto distribution at 0 < p < 1."""
    if sigma <= 0:
        return np.full_like(p, np.nan)
    if np.abs(k) < np.finfo(float).eps:
        return -np.log1p(-p) * sigma
    return np.expm1(-k * np.log1p(-p)) / k * sigma


def smoothed_log_weights(log_ratios: np.ndarray, r_eff: float) -> tuple[np.ndarray, float]:
    """Normalised Pareto-smoothed log importance weights of one study's draws, and the Pareto shape k."""
    n = len(log_ratios)
    x = np.array(log_ratios, dtype=float)
    x -= np.max(x)
    cutoff = max(x[np.argsort(x)[-int(np.ceil(min(n / 5.0, 3 * (n / r_eff) ** 0.5))) - 1]], np.log(np.finfo(float).tiny))
    (tail,) = np.where(x > cutoff)
    k = np.inf
    if len(tail) > 4:
        order = np.argsort(x[tail])
        k, sigma = _gpd_fit((np.exp(x[tail]) - np.exp(cutoff))[order])
        if np.isfinite(k):
            x[tail[order]] = np.log(_gpd_quantiles(np.arange(0.5, len(tail)) / len(tail), k, sigma) + np.exp(cutoff))
            x[x > 0] = 0
    x -= logsumexp(x)
    return x, k


def psis_loo(log_lik: np.ndarray, posterior: list[np.ndarray]) -> dict:
    """PSIS-LOO of `log_lik` (chain, draw, study) given the posterior's variables (each (chain, draw, ...)):
    elpd_loo, its se, p_loo and each study's Pareto k (as `az.loo(pointwise=True)` on the log scale)."""
    n_chain, n_draw, n_points = log_lik.shape
    samples = log_lik.reshape(n_chain * n_draw, n_points)
    r_eff = relative_efficiency(posterior)
    loo_i, k = np.empty(n_points), np.empty(n_points)
    for j in range(n_points):
        ll = np.ascontiguousarray(samples[:, j])
        w, k[j] = smoothed_log_weights(-ll, r_eff)
        loo_i[j] = logsumexp(w + ll)
    lppd = np.sum([logsumexp(np.ascontiguousarray(samples[:, j]), n_inv=len(samples)) for j in range(n_points)])
    elpd = loo_i.sum()
    return {"elpd_loo": elpd, "se": (n_points * np.var(loo_i)) ** 0.5, "p_loo": lppd - elpd, "pareto_k": k}
