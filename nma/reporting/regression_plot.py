"""The meta-regression figure: each compared pair's effect against the covariate, with the trials as points.

One panel per pair of treatments compared in a trial: the model's effect of the pair as a function of the covariate
(median and 95% CrI band, continuous covariate; a point and bar per level, categorical), and each trial's observed
estimate of that pair at its covariate value, the marker's area proportional to its precision (1 / SE^2). A reader
sees at once which trials carry the interaction and whether the line is an interpolation or a reach.
"""

from __future__ import annotations

import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nma.core.measures import Measure
from nma.reporting.plots import RATIO_TICKS, STYLE, _effect_axis

#: Points along the observed covariate range at which the fitted line is evaluated.
GRID = 21
#: Marker area (points^2) of the most precise trial; the others scale with 1 / SE^2.
MAX_AREA = 260.0


def observed_pairs(network) -> pd.DataFrame:
    """Each trial's estimate of each non-baseline arm against its baseline: study, treatment, comparator, y, se."""
    c = network.contrasts
    rows = []
    for study, g in c.groupby("study", sort=False):
        base = g[g["y"].isna()]
        if not len(base):
            continue
        b = str(base["treatment"].iloc[0])
        for r in g[g["y"].notna()].itertuples(index=False):
            rows.append({"study": str(study), "treatment": str(r.treatment), "comparator": b, "y": float(r.y),
                         "se": float(r.se)})
    return pd.DataFrame(rows, columns=["study", "treatment", "comparator", "y", "se"])


def effect_vs_covariate(post, values: dict, measure: Measure, labels: dict[str, str] | None = None,
                        covariate_label: str | None = None) -> Figure:
    """The figure, from a `RegressionPosterior` with a covariate and the covariate's value per trial (`values`)."""
    from nma.models.regression import effects_at

    labels = labels or {}
    name = lambda t: labels.get(t, t)  # noqa: E731
    pairs = observed_pairs(post.network)
    keys = list(dict.fromkeys(zip(pairs["treatment"], pairs["comparator"])))
    continuous = post.model.centre is not None
    raw = [values[s] for s in pairs["study"]]
    if continuous:
        lo, hi = float(np.min(list(map(float, values.values())))), float(np.max(list(map(float, values.values()))))
        grid = list(np.linspace(lo, hi, GRID)) if hi > lo else [lo]
    else:
        grid = sorted({str(v) for v in values.values()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the grid stays inside the observed range
        fitted = effects_at(post, grid)
    ncol = min(3, len(keys))
    nrow = math.ceil(len(keys) / ncol)
    w = 1.0 / pairs["se"].to_numpy() ** 2
    area = MAX_AREA * w / w.max()
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(4.2 * ncol, 3.4 * nrow))
        axes = fig.subplots(nrow, ncol, squeeze=False)
        for k, (t, b) in enumerate(keys):
            ax = axes[k // ncol][k % ncol]
            f = fitted[(fitted["treatment"] == t) & (fitted["comparator"] == b)]
            med, low, up = (np.asarray(measure.to_shown(f[c].to_numpy(float))) for c in ("median", "lower", "upper"))
            if continuous:
                x = f["covariate_value"].to_numpy(float)
                ax.fill_between(x, low, up, color="#4575b4", alpha=0.2, lw=0)
                ax.plot(x, med, color="#4575b4", lw=1.5)
            else:
                pos = np.arange(len(grid))
                ax.errorbar(pos, med, yerr=[med - low, up - med], fmt="s", color="#4575b4", capsize=3)
                ax.set_xticks(pos, grid)
            sel = (pairs["treatment"] == t) & (pairs["comparator"] == b)
            xs = np.array([float(v) if continuous else grid.index(str(v)) for v, s in zip(raw, sel) if s])
            ax.scatter(xs, measure.to_shown(pairs.loc[sel, "y"].to_numpy()), s=area[sel.to_numpy()], color="#d73027",
                       alpha=0.7, edgecolor="black", lw=0.5, zorder=3)
            for xv, yv, s in zip(xs, pairs.loc[sel, "y"], pairs.loc[sel, "study"]):
                ax.annotate(s, (xv, float(measure.to_shown(yv))), fontsize=7, xytext=(4, 3), textcoords="offset points")
            _effect_axis(ax, measure, RATIO_TICKS, axis="y")
            ax.set_title(f"{name(t)}\nvs {name(b)}", fontsize=9)
            ax.set_xlabel(covariate_label or post.model.covariate_columns[0].split("=")[0], fontsize=9)
            ax.set_ylabel(f"{measure.code}{' (log scale)' if measure.is_ratio else ''}", fontsize=9)
        for k in range(len(keys), nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.tight_layout()
        for a in fig.axes:
            for axis in (a.xaxis, a.yaxis):
                axis.get_major_ticks()
    return fig
