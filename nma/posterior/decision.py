"""Decision probabilities: P(effect < t) for each treatment versus the comparator of interest, at thresholds an
assessor names (the null for superiority, a shifted null such as HR 0.8, a non-inferiority margin such as HR 1.25).

Pure: draws (or an exact mixture's per-node means and SDs) in, a numeric table out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from nma.constants import COMPARATOR, TREATMENT
from nma.errors import ModelSpecError

#: Columns of `decision_probabilities`, in order.
COLUMNS = (TREATMENT, COMPARATOR, "threshold", "threshold_model", "p_below", "p_above", "p_favourable", "mcse")


def default_thresholds(measure, mid: float | None) -> tuple[float, ...]:
    """The null (1 for a ratio, 0 for a difference) and the MID where one is set, on the shown scale."""
    return tuple(sorted({measure.null, *(() if mid is None else (float(mid),))}))


def _model_thresholds(thresholds, measure) -> np.ndarray:
    t = np.asarray(thresholds, float)
    if t.ndim != 1 or not len(t) or not np.all(np.isfinite(t)):
        raise ModelSpecError(f"thresholds={thresholds!r}: give a non-empty list of numbers on the shown scale, e.g. "
                             "[0.8, 1.0, 1.25]")
    if measure.is_ratio and not np.all(t > 0):
        raise ModelSpecError(f"thresholds={thresholds!r}: a {measure.code} is positive. Fix: give ratios, e.g. [0.8, 1.0]")
    return measure.from_shown(t)


def _table(treatments, comparator, thresholds, model_t, below, mcse, lower_is_better) -> pd.DataFrame:
    others = [t for t in treatments if t != comparator]
    T = len(model_t)
    out = pd.DataFrame({TREATMENT: np.repeat(others, T), COMPARATOR: comparator,
                        "threshold": np.tile(np.asarray(thresholds, float), len(others)),
                        "threshold_model": np.tile(model_t, len(others)), "p_below": below.ravel(),
                        "p_above": 1 - below.ravel(), "mcse": mcse.ravel()})
    out["p_favourable"] = out["p_below"] if lower_is_better else out["p_above"]
    return out[list(COLUMNS)]


def _comparator_index(treatments, comparator) -> int:
    if comparator not in treatments:
        raise ModelSpecError(f"comparator={comparator!r} is not a treatment of this network. Fix: use one of "
                             f"{', '.join(map(str, treatments))}")
    return list(treatments).index(comparator)


def decision_probabilities(draws: np.ndarray, treatments: tuple[str, ...], comparator: str, thresholds,
                           measure, lower_is_better: bool) -> pd.DataFrame:
    """P(effect of each treatment versus `comparator` < t) for every threshold t, from posterior draws.

    Parameters
    ----------
    draws : ndarray (n, T)
        Effects of every treatment versus the reference on the model scale, the reference's zero column first.
    treatments : tuple of str
        Column names of `draws`.
    comparator : str
        The comparator of interest (one of `treatments`).
    thresholds : sequence of float
        On the shown scale: ratios (e.g. 0.8, 1.0, 1.25) for a ratio measure, differences otherwise.
    measure : Measure
        Maps thresholds to the model scale (log for ratios).
    lower_is_better : bool
        Which side of a threshold is favourable.

    Returns
    -------
    pandas.DataFrame
        One row per treatment (other than the comparator) and threshold: ``treatment, comparator, threshold`` (shown
        scale), ``threshold_model`` (model scale), ``p_below`` = P(effect < threshold), ``p_above`` = 1 - p_below,
        ``p_favourable`` (p_below when lower is better, else p_above), ``mcse`` (sqrt(p (1 - p) / n): exact for
        independent draws, as the exact engine's; a lower bound for MCMC).
    """
    c = _comparator_index(treatments, comparator)
    model_t = _model_thresholds(thresholds, measure)
    draws = np.asarray(draws, float)
    keep = [i for i in range(len(treatments)) if i != c]
    diff = draws[:, keep] - draws[:, [c]]                                   # (n, T - 1)
    below = (diff[:, :, None] < model_t[None, None, :]).mean(0)             # (T - 1, thresholds)
    mcse = np.sqrt(below * (1 - below) / len(draws))
    return _table(treatments, comparator, thresholds, model_t, below, mcse, lower_is_better)


def mixture_decision_probabilities(weight: np.ndarray, mean: np.ndarray, sd: np.ndarray, treatments: tuple[str, ...],
                                   comparator: str, thresholds, measure, lower_is_better: bool) -> pd.DataFrame:
    """The same table in closed form for a Gaussian mixture (the exact engine's posterior): P(effect < t) =
    sum_g w_g Phi((t - m_g) / s_g), with `mean` and `sd` (G, T) the per-node means and SDs of every treatment
    versus `comparator` (the comparator's own column ignored); ``mcse`` is 0."""
    c = _comparator_index(treatments, comparator)
    model_t = _model_thresholds(thresholds, measure)
    keep = [i for i in range(len(treatments)) if i != c]
    m, s = np.asarray(mean, float)[:, keep, None], np.asarray(sd, float)[:, keep, None]
    below = np.einsum("g,gkt->kt", np.asarray(weight, float), special.ndtr((model_t[None, None, :] - m) / s))
    return _table(treatments, comparator, thresholds, model_t, below, np.zeros_like(below), lower_is_better)
