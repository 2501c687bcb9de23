"""Report section "Threshold analysis and decision probabilities", for every normal-likelihood (contrast) analysis.

Threshold analysis (Phillippo et al. 2018; `nma.checks.threshold`) says how much each study's estimate, and each
compared pair's combined evidence, could change (through bias, say) before the optimal treatment changes, and flags
those whose 95% interval reaches a threshold. Decision probabilities (`nma.posterior.decision`) give P(effect < t)
versus the comparator of interest at the config's `[decision] thresholds` (default: no effect and the MID).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from nma.checks.threshold import contrast_thresholds, mid_on_model_scale, study_thresholds
from nma.core.network import Network
from nma.posterior.decision import decision_probabilities, default_thresholds
from nma.reporting.report import _table
from nma.reporting.sections import Section

FIGURE = "threshold forest plot (study level)"
CAPTION = ("Each study's estimate (square) with its own 95% CI (black bar) and the decision-invariant interval (blue): "
           "the estimate can move anywhere inside the blue band without changing the optimal treatment; the treatment "
           "written at each end becomes optimal beyond it, and an arrow means no change in that direction alters the "
           "decision. Red marks the part of a CI beyond a threshold (row label in bold): the recommendation is "
           "sensitive to plausible imprecision or bias in that study. The most sensitive rows first.")


class _DrawsPosterior:
    """What the threshold functions read from a Posterior (mean, covariance and tau of the draws), for runs whose
    deliverables carry only the draws."""

    exact = None

    def __init__(self, draws: np.ndarray, tau: np.ndarray | None):
        self._d, self._tau = draws[:, 1:], tau

    def flat(self) -> np.ndarray:
        return self._d

    def tau_summary(self, probs):
        return {p: float(np.quantile(self._tau, p)) for p in probs}


def _names(d) -> dict[str, str]:
    return d._meta_labels() if hasattr(d, "_meta_labels") else {}


def decision_settings(d) -> tuple[str, tuple[float, ...]]:
    """Comparator and thresholds from the config's [decision] block (checked when the config was read), else the
    reference and (null, MID)."""
    block = (getattr(d.cfg, "raw", None) or {}).get("decision", {})
    comparator = block.get("comparator", d.network.reference)
    thresholds = block.get("thresholds") or default_thresholds(d.network.measure, getattr(d.cfg, "mid", None))
    return comparator, tuple(float(t) for t in thresholds)


def _limit(x: float, measure) -> str:
    """An invariant-interval end on the shown scale: "none" when that side has no threshold; beyond a ratio of 1000
    (or a difference of 1000) as a bound, not a number of 100 digits."""
    if not np.isfinite(x):
        return "none"
    if measure.is_ratio and abs(x) > np.log(1000):
        return "> 1000" if x > 0 else "< 0.001"
    v = float(measure.to_shown(x))
    return f"{v:.3g}" if abs(v) < 1000 else ("> 1000" if v > 0 else "< -1000")


def _shown_thresholds(table: pd.DataFrame, measure, names: dict[str, str]) -> pd.DataFrame:
    """The columns a reader needs, on the shown scale (a ratio's invariant interval as ratios)."""
    f = lambda c: measure.to_shown(table[c].to_numpy(float))  # noqa: E731
    th = lambda v: "none" if not np.isfinite(v) else f"{v:.3f}"  # noqa: E731
    out = pd.DataFrame({
        "study": table["study"],
        "contrast": [f"{names.get(t, t)} vs {names.get(c, c)}" for t, c in zip(table["treatment"], table["comparator"])],
        f"{measure.code} (95% interval)": [f"{e:.2f} ({lo:.2f} to {hi:.2f})" for e, lo, hi in
                                            zip(f("estimate"), f("ci_lower"), f("ci_upper"))],
        "invariant interval": [f"{_limit(lo, measure)} to {_limit(hi, measure)}"
                               for lo, hi in zip(table["invariant_lower"], table["invariant_upper"])],
        "lower threshold": [th(v) for v in table["lower_threshold"]],
        "new optimal below": [names.get(t, t) for t in table["lower_new_optimal"]],
        "upper threshold": [th(v) for v in table["upper_threshold"]],
        "new optimal above": [names.get(t, t) for t in table["upper_new_optimal"]],
        "sensitive": np.where(table["sensitive"], "yes", ""),
    })
    return out if (table["study"] != "").any() else out.drop(columns="study")


def _probability_table(probs: pd.DataFrame, measure, names: dict[str, str]) -> pd.DataFrame:
    wide = probs.pivot(index="treatment", columns="threshold", values="p_below")
    wide = wide.reindex(pd.unique(probs["treatment"]))
    wide.columns = [f"P({measure.code} < {t:g})" for t in wide.columns]
    wide.index = [names.get(t, t) for t in wide.index]
    return wide.reset_index(names="treatment")


def _sensitive_words(table: pd.DataFrame, names: dict[str, str], level: str, levels: str) -> str:
    rows = table[table["sensitive"]]
    if rows.empty:
        return f"No {level} has a threshold inside its 95% interval: the decision is robust to plausible changes there."
    items = []
    for r in rows.itertuples(index=False):
        pair = f"{names.get(r.treatment, r.treatment)} vs {names.get(r.comparator, r.comparator)}"
        sides = [names.get(n, n) for n, hit in ((r.lower_new_optimal, r.ci_lower < r.invariant_lower),
                                                (r.upper_new_optimal, r.ci_upper > r.invariant_upper)) if hit and n]
        items.append(f"{r.study + ' (' + pair + ')' if r.study else pair} (would make {' or '.join(sides)} optimal)")
    return (f"Sensitive {levels} (a threshold lies inside the 95% interval): " + "; ".join(items) + ".")


def section(d) -> Section | None:
    """Threshold tables (study and contrast level), the threshold forest plot, the sensitive studies and the decision
    probabilities; None for an arm-level (binomial) analysis, whose likelihood is not normal."""
    if not isinstance(d.network, Network):
        return None
    from nma.reporting.plots import save_figure
    from nma.reporting.threshold_plot import threshold_forest

    network, spec, measure, names = d.network, d.spec, d.network.measure, _names(d)
    posterior = getattr(d, "posterior", None)
    if posterior is None or getattr(posterior, "parameters", None) != tuple(network.treatments[1:]):
        posterior = _DrawsPosterior(d.draws, d.tau_draws)
    study = study_thresholds(network, spec, posterior)
    contrast = contrast_thresholds(network, spec, posterior)
    comparator, thresholds = decision_settings(d)
    probs = decision_probabilities(d.draws, network.treatments, comparator, thresholds, measure, spec.lower_is_better)
    optimal = names.get(study["optimal"].iloc[0], study["optimal"].iloc[0])
    how = ("fixed effect: the influence of each data point on the posterior mean is exact" if spec.effects == "fixed"
           else f"random effects: the influence of each data point is computed with tau fixed at its posterior median "
                f"({float(posterior.tau_summary((0.5,))[0.5]):.3f}), as nmathresh treats tau as known")
    paras = [f"Threshold analysis (Phillippo et al. 2018, as the R package nmathresh): the optimal treatment, the best "
             f"posterior mean {measure.code} ({'lower' if spec.lower_is_better else 'higher'} is better), is {optimal}. "
             "For each study's estimate and for each directly compared pair's combined evidence, the thresholds are how "
             f"far the estimate (model scale, {measure.model_scale}) could move down or up before another treatment "
             "becomes optimal, and which one. A threshold inside the estimate's own 95% interval means the "
             f"recommendation is sensitive to plausible imprecision or bias there. Computed under {how}; the contrast "
             "level reconstructs one likelihood per compared pair from the posterior (nmathresh's recon_vcov).",
             _sensitive_words(study, names, "study estimate", "study estimates"),
             _sensitive_words(contrast, names, "compared pair", "compared pairs"),
             f"Decision probabilities: P({measure.code} < t) of each treatment versus {names.get(comparator, comparator)} "
             f"at t = {', '.join(f'{t:g}' for t in thresholds)} (the [decision] thresholds; default: no effect and the "
             "MID). "
             + (f"Lower is better, so P({measure.code} < t) is the probability of a benefit beyond t (a shifted null "
                "below 1, non-inferiority with margin t above 1)." if spec.lower_is_better else
                f"Higher is better, so 1 - P({measure.code} < t) is the probability of a benefit beyond t.")]
    body = "".join(f"<p>{Markup.escape(p)}</p>" for p in paras)
    for caption, df in ((f"Decision probabilities versus {names.get(comparator, comparator)}.",
                         _probability_table(probs, measure, names)),
                        ("Study-level thresholds (model scale; the invariant interval on the shown scale).",
                         _shown_thresholds(study, measure, names)),
                        ("Contrast-level thresholds (combined evidence of each directly compared pair; the interval is "
                         "its 95% CrI).", _shown_thresholds(contrast, measure, names))):
        body += f"<p class='caption small'>{Markup.escape(caption)}</p><div class='wide'>{_table(df, 3, names)}</div>"
    folder = Path(tempfile.mkdtemp(prefix="nma_threshold_"))   # moved into figures/ by sections.place_figures
    figures = {FIGURE: save_figure(threshold_forest(study, measure, names), folder / "threshold_forest")}
    notes = ()
    if study["sensitive"].any():
        notes = (f"ModelWarning: threshold analysis: the choice of {optimal} as optimal is sensitive to plausible "
                 f"imprecision or bias in {int(study['sensitive'].sum())} study estimate(s) "
                 f"({', '.join(pd.unique(study.loc[study['sensitive'], 'study']))}); see threshold_study.csv",)
    tables = {"threshold_study.csv": study, "threshold_contrast.csv": contrast, "decision_probabilities.csv": probs}
    sheets = {"Threshold (study)": study, "Threshold (contrast)": contrast, "Decision probabilities": probs}
    mid = getattr(d.cfg, "mid", None)
    if mid is not None:   # the decision changes only when another treatment is better by at least the MID
        with_mid = study_thresholds(network, spec, posterior, mid=mid_on_model_scale(mid, measure, spec.lower_is_better))
        tables["threshold_study_mid.csv"] = with_mid
        sheets["Threshold (study, MID)"] = with_mid
        body += (f"<p class='caption small'>{Markup.escape(f'Study-level thresholds when the decision changes only for a gain of at least the MID ({measure.code} {mid:g}, nmathresh mcid.type = change).')}</p>"
                 f"<div class='wide'>{_table(_shown_thresholds(with_mid, measure, names), 3, names)}</div>")
    return Section("threshold", "Threshold analysis and decision probabilities", Markup(body), tables, sheets, figures,
                   {FIGURE: CAPTION}, notes)
