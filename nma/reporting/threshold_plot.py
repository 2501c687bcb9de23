"""The threshold forest plot (Phillippo et al. 2018, nmathresh's `thresh_forest`): each estimate with its 95% interval
and its decision-invariant interval, the new optimal treatment written at each end; sensitive rows in red.

Same conventions as `nma.reporting.plots`: returns a Figure, takes ``ax=``, shown scale with a log axis for ratios.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from nma.core.measures import Measure, measure_of
from nma.reporting.plots import _axes, _effect_axis, _styled

#: Rows shown at most: the most sensitive first (smallest coverage), as the vignette trims its 146-row plot.
MAX_ROWS = 30
INVARIANT, SENSITIVE, EDGE = "#a6cee3", "#e31a1c", "#1f78b4"


def row_label(r, labels: dict[str, str]) -> str:
    name = lambda t: labels.get(t, t)  # noqa: E731
    pair = f"{name(r['treatment'])} vs {name(r['comparator'])}"
    return f"{r['study']} ({pair})" if r["study"] else pair


@_styled
def threshold_forest(table: pd.DataFrame, measure: str | Measure, labels: dict[str, str] | None = None,
                     ax: Axes | None = None, max_rows: int = MAX_ROWS) -> Figure:
    """Threshold forest plot of a `nma.threshold` table (model scale; shown here on the measure's scale).

    Each row: the estimate (square) and its 95% interval (black bar); the decision-invariant interval (blue band, red
    where it lies inside the interval: the decision is sensitive there), cut at the axis (an arrow there when that side
    has no threshold at all); the treatment that becomes optimal beyond each end is written there. Rows sorted by coverage,
    at most `max_rows` (the most sensitive)."""
    measure = measure_of(measure)
    labels = labels or {}
    rows = table.sort_values("coverage", kind="stable").head(max_rows).reset_index(drop=True)
    fig, ax = _axes(ax, (10, 0.45 * len(rows) + 1.8))
    y = np.arange(len(rows))[::-1]
    est, lo, hi = (np.asarray(measure.to_shown(rows[c].to_numpy(float))) for c in ("estimate", "ci_lower", "ci_upper"))
    # model-scale ends beyond +-50 are off any axis (and would overflow exp); infinite ones are told apart below
    inv_lo = np.asarray(measure.to_shown(np.clip(rows["invariant_lower"].to_numpy(float), -50, 50)))
    inv_hi = np.asarray(measure.to_shown(np.clip(rows["invariant_upper"].to_numpy(float), -50, 50)))
    finite = np.concatenate([lo, hi, inv_lo[np.isfinite(rows["invariant_lower"])], inv_hi[np.isfinite(rows["invariant_upper"])]])
    finite = finite[np.isfinite(finite) & ((finite > 0) if measure.is_ratio else True)]
    if measure.is_ratio:
        left, right = np.exp(np.log(finite).min() - 0.3), np.exp(np.log(finite).max() + 0.3)
    else:
        pad = 0.1 * (finite.max() - finite.min() or 1.0)
        left, right = finite.min() - pad, finite.max() + pad
    a, b = np.clip(inv_lo, left, right), np.clip(inv_hi, left, right)
    ax.barh(y, b - a, left=a, height=0.5, color=INVARIANT, label="decision-invariant interval")
    # the part of the CI outside the invariant interval: the decision changes within plausible values
    for yi, l_, h_, il, ih in zip(y, lo, hi, a, b):
        if l_ < il:
            ax.barh(yi, il - l_, left=l_, height=0.5, color=SENSITIVE)
        if h_ > ih:
            ax.barh(yi, h_ - ih, left=ih, height=0.5, color=SENSITIVE)
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="s", color="black", capsize=3, ms=4, label="estimate (95% interval)")
    # the new optimal treatment beyond each end, outside the band and any red part of the interval
    for yi, r, il, ih, l_, h_ in zip(y, rows.itertuples(index=False), a, b, lo, hi):
        if r.lower_new_optimal and il > left:
            ax.annotate(labels.get(r.lower_new_optimal, r.lower_new_optimal), (max(min(il, l_), left), yi),
                        xytext=(-3, 0), textcoords="offset points", ha="right", va="center", fontsize=8)
        if r.upper_new_optimal and ih < right:
            ax.annotate(labels.get(r.upper_new_optimal, r.upper_new_optimal), (min(max(ih, h_), right), yi),
                        xytext=(3, 0), textcoords="offset points", ha="left", va="center", fontsize=8)
    for yi, inf_lo, inf_hi in zip(y, ~np.isfinite(rows["invariant_lower"]), ~np.isfinite(rows["invariant_upper"])):
        if inf_lo:
            ax.plot(left, yi, marker="<", color=EDGE, ms=7, clip_on=False)
        if inf_hi:
            ax.plot(right, yi, marker=">", color=EDGE, ms=7, clip_on=False)
    ax.set_xlim(left, right)
    _effect_axis(ax, measure)
    ax.set_xlim(left, right)
    ax.set_ylim(-0.75, len(rows) - 0.25)
    ax.set_yticks(y, [row_label(r, labels) for r in rows.to_dict("records")])
    for tick, sensitive in zip(ax.get_yticklabels(), rows["sensitive"]):
        if sensitive:
            tick.set_fontweight("bold")
    optimal = labels.get(rows["optimal"].iloc[0], rows["optimal"].iloc[0]) if len(rows) else ""
    ax.set_xlabel(f"{measure.code}{' (log scale)' if measure.is_ratio else ''}; optimal treatment: {optimal}")
    handles, names = ax.get_legend_handles_labels()
    handles.append(Patch(color=SENSITIVE))
    names.append("95% interval beyond a threshold")
    ax.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    return fig
