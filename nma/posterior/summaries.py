"""Posterior draws in, numeric DataFrames out: relative effects, ranks, heterogeneity.

No PyMC here, and no rounding: formatting happens at the edge (reports). Interval width is CI_PROB,
passed explicitly, never a library default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from nma.constants import CI_PROB, COMPARATOR, TREATMENT


def probs_for(ci_prob: float = CI_PROB) -> tuple[float, float, float]:
    return ((1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2)


def posterior_of(idata) -> xr.Dataset:
    """The one place that knows how the posterior group is stored (InferenceData now, DataTree later)."""
    post = idata["posterior"]
    return post.to_dataset() if hasattr(post, "to_dataset") and not isinstance(post, xr.Dataset) else post


def all_treatment_draws(d: xr.DataArray, reference: str) -> xr.DataArray:
    """Prepend the reference (d = 0) so every treatment has draws: dims (..., treatment)."""
    ref = xr.zeros_like(d.isel({TREATMENT: 0}, drop=True)).expand_dims({TREATMENT: [reference]})
    return xr.concat([ref, d], dim=TREATMENT).transpose(..., TREATMENT)


def flatten(da: xr.DataArray) -> np.ndarray:
    """(chain, draw, ...) -> (sample, ...)."""
    dims = [d for d in ("chain", "draw") if d in da.dims]
    return da.stack(sample=dims).transpose("sample", ...).to_numpy() if dims else da.to_numpy()


def relative_effects(draws: np.ndarray, treatments: tuple[str, ...], ci_prob: float = CI_PROB,
                     tau: np.ndarray | None = None, seed: int = 0) -> pd.DataFrame:
    """Every ordered pair: log-scale mean, sd, lower, median, upper of treatment minus comparator.

    draws: (n_samples, n_treatments), reference column included. With `tau` (random effects), also
    pred_lower/pred_upper: the effect expected in a new trial, d_i - d_j + N(0, tau^2) per draw (antisymmetric).
    """
    lo, mid, hi = probs_for(ci_prob)
    diff = draws[:, :, None] - draws[:, None, :]            # (n, treatment, comparator)
    q = np.quantile(diff, [lo, mid, hi], axis=0)
    pred = None
    if tau is not None:
        z = np.random.default_rng(seed).standard_normal(diff.shape)
        z = np.triu(z, 1) - np.swapaxes(np.triu(z, 1), 1, 2)   # the new trial of j vs i is the same trial
        pred = np.quantile(diff + tau[:, None, None] * z, [lo, hi], axis=0)
    T = len(treatments)
    rows = []
    for i in range(T):
        for j in range(T):
            if i != j:
                row = {TREATMENT: treatments[i], COMPARATOR: treatments[j], "mean": diff[:, i, j].mean(),
                       "sd": diff[:, i, j].std(ddof=1), "lower": q[0, i, j], "median": q[1, i, j], "upper": q[2, i, j]}
                if pred is not None:
                    row.update(pred_lower=pred[0, i, j], pred_upper=pred[1, i, j])
                rows.append(row)
    return pd.DataFrame(rows)


def add_ratio_scale(table: pd.DataFrame, measure=None) -> pd.DataFrame:
    """exp_median, exp_lower, exp_upper (and exp_pred_*): the ratio scale of a ratio measure (HR, OR).

    A difference measure (`measure.is_ratio` false: MD, SMD) is shown on its own scale, so nothing is added."""
    out = table.copy()
    if measure is not None and not measure.is_ratio:
        return out
    for c in ("median", "lower", "upper", "pred_lower", "pred_upper"):
        if c in out:
            out[f"exp_{c}"] = np.exp(out[c])
    return out


def rank_draws(draws: np.ndarray, lower_is_better: bool = True) -> np.ndarray:
    """Rank of each treatment in each draw (1 = best); continuous posteriors have no ties."""
    score = draws if lower_is_better else -draws
    return score.argsort(axis=1).argsort(axis=1) + 1


def ranks(draws: np.ndarray, treatments: tuple[str, ...], lower_is_better: bool = True,
          ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Rank 1 = best. Mean/median rank with its CrI, SUCRA with its CrI (SUCRA per draw), P(best), P(rank k)."""
    T = len(treatments)
    rank = rank_draws(draws, lower_is_better)
    lo, _, hi = probs_for(ci_prob)
    p_rank = np.stack([(rank == k).mean(0) for k in range(1, T + 1)], axis=1)   # (T, T)
    sucra_draws = (T - rank) / (T - 1) if T > 1 else np.ones_like(rank, float)
    out = pd.DataFrame({TREATMENT: list(treatments), "mean_rank": rank.mean(0),
                        "median_rank": np.median(rank, 0), "rank_lower": np.quantile(rank, lo, axis=0, method="inverted_cdf"),
                        "rank_upper": np.quantile(rank, hi, axis=0, method="inverted_cdf"),
                        "sucra": sucra_draws.mean(0), "p_best": p_rank[:, 0],
                        "sucra_lower": np.quantile(sucra_draws, lo, axis=0, method="inverted_cdf"),
                        "sucra_upper": np.quantile(sucra_draws, hi, axis=0, method="inverted_cdf")})
    for k in range(T):
        out[f"p_rank_{k + 1}"] = p_rank[:, k]
    return out


def cumulative_rank_probabilities(rank_table: pd.DataFrame) -> pd.DataFrame:
    """P(rank <= k) per treatment; SUCRA is the mean of its first T - 1 entries."""
    cols = [c for c in rank_table.columns if c.startswith("p_rank_")]
    cum = rank_table[cols].cumsum(axis=1)
    cum.columns = [c.replace("p_rank_", "p_rank_le_") for c in cols]
    return pd.concat([rank_table[[TREATMENT]], cum], axis=1)


def prob_better(draws: np.ndarray, lower_is_better: bool = True) -> np.ndarray:
    """P(row treatment better than column treatment), (T, T)."""
    diff = draws[:, :, None] - draws[:, None, :]
    return ((diff < 0) if lower_is_better else (diff > 0)).mean(0)


def mid_probabilities(draws: np.ndarray, treatments: tuple[str, ...], mid: float, lower_is_better: bool = True) -> pd.DataFrame:
    """P(treatment beats comparator by more than a minimal important difference on the ratio scale).

    lower_is_better: P(ratio < mid), mid < 1 (e.g. HR 0.8); otherwise P(ratio > mid), mid > 1 (e.g. OR 1.25).
    """
    from nma.errors import ModelSpecError

    if lower_is_better and not 0 < mid < 1:
        raise ModelSpecError(f"mid={mid!r}: with lower_is_better=True the MID is a ratio below 1 (and above 0). Fix: pass "
                             "the ratio just worth having, e.g. mid=0.8, or lower_is_better=False")
    if not lower_is_better and not mid > 1:
        raise ModelSpecError(f"mid={mid!r}: with lower_is_better=False the MID is a ratio above 1. Fix: pass the "
                             "ratio just worth having, e.g. mid=1.25, or lower_is_better=True")
    diff = draws[:, :, None] - draws[:, None, :]
    p = (diff < np.log(mid)).mean(0) if lower_is_better else (diff > np.log(mid)).mean(0)
    T = len(treatments)
    return pd.DataFrame([{TREATMENT: treatments[i], COMPARATOR: treatments[j], "mid": mid, "p_beats_by_mid": p[i, j]}
                         for i in range(T) for j in range(T) if i != j])


def scalar_summary(x: np.ndarray, name: str, ci_prob: float = CI_PROB) -> pd.DataFrame:
    lo, mid, hi = probs_for(ci_prob)
    q = np.quantile(x, [lo, mid, hi])
    return pd.DataFrame([{"parameter": name, "mean": x.mean(), "sd": x.std(ddof=1), "lower": q[0], "median": q[1], "upper": q[2]}])
