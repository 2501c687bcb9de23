"""Report section "Frequentist companion", for every normal-likelihood (contrast) analysis.

The same network fitted by GLS (`nma.frequentist`, netmeta's and metafor's model): its league table with 95% CIs
beside the Bayesian one, tau^2 with its Q-profile CI, I^2, the Q decomposition, P-scores beside SUCRA, and the
design-by-treatment global test of inconsistency (`nma.checks.design_by_treatment`), with a paragraph on where the
two answers differ and why. An arm-level (binomial) analysis gets no section: its likelihood is not normal, and a
contrast approximation of it would not be the analysis's own data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from nma.checks.design_by_treatment import BAYESIAN_ABSENT, design_by_treatment
from nma.constants import COMPARATOR, TREATMENT
from nma.core.network import Network
from nma.models.frequentist import FrequentistFit, frequentist
from nma.reporting import league
from nma.reporting.report import _table
from nma.reporting.sections import Section

#: The estimator used when the Bayesian model has random effects (metafor's default; netmeta's is DL).
RANDOM_METHOD = "REML"


def _names(d) -> dict[str, str]:
    return d._meta_labels() if hasattr(d, "_meta_labels") else {}


def _block(d) -> dict:
    """The config's [frequentist] table (checked when the config was read): enabled (default true), method."""
    return (getattr(d.cfg, "raw", None) or {}).get("frequentist", {})


def companion(d) -> tuple[FrequentistFit, str]:
    """The frequentist fit: [frequentist] method, else the one matching the Bayesian model (fixed effect for fixed,
    REML for random); and a note when tau cannot be estimated (no residual degrees of freedom) so a random-effects
    companion falls back to fixed effect."""
    method = _block(d).get("method", "fixed" if d.spec.effects == "fixed" else RANDOM_METHOD)
    fixed = frequentist(d.network, "fixed", lower_is_better=d.spec.lower_is_better)
    if method == "fixed":
        return fixed, ""
    if fixed.df_total < 1:
        return fixed, (f"The network has no residual degrees of freedom ({fixed.n_contrasts} contrast(s), "
                       f"{len(fixed.treatments) - 1} parameters): tau cannot be estimated from the data, so the "
                       "frequentist companion is fixed effect.")
    return frequentist(d.network, method, lower_is_better=d.spec.lower_is_better), ""


def side_by_side(d, fit: FrequentistFit) -> pd.DataFrame:
    """Every ordered pair on the shown scale: the Bayesian median and 95% CrI beside the frequentist estimate and
    95% CI, and the difference of the two point estimates on the model scale."""
    measure = d.network.measure
    freq = fit.relative_effects().set_index([TREATMENT, COMPARATOR])
    bayes = d.rel.set_index([TREATMENT, COMPARATOR])
    rows = []
    for (t, c), f in freq.iterrows():
        b = bayes.loc[(t, c)]
        rows.append({"treatment": t, "comparator": c,
                     "bayes_median": float(measure.to_shown(b["median"])), "bayes_lower": float(measure.to_shown(b["lower"])),
                     "bayes_upper": float(measure.to_shown(b["upper"])),
                     "freq_estimate": float(measure.to_shown(f["estimate"])), "freq_lower": float(measure.to_shown(f["lower"])),
                     "freq_upper": float(measure.to_shown(f["upper"])), "freq_p_value": float(f["p_value"]),
                     "difference_model_scale": float(b["median"] - f["estimate"]),
                     "width_ratio": float((b["upper"] - b["lower"]) / (f["upper"] - f["lower"]))})
    return pd.DataFrame(rows)


def _upper(pairs: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per unordered pair: the treatment earlier in `order` versus the later one."""
    pos = {t: i for i, t in enumerate(order)}
    keep = [pos[t] < pos[c] for t, c in zip(pairs["treatment"], pairs["comparator"])]
    return pairs[keep].sort_values(["treatment", "comparator"], key=lambda s: s.map(pos)).reset_index(drop=True)


def _bayes_tau(d) -> float | None:
    """The posterior median of tau as the report's heterogeneity table gives it (exact where the engine is), so the
    report states one number; the draws' median otherwise."""
    tau = getattr(d, "tau_draws", None)
    if tau is None or d.spec.effects == "fixed":
        return None
    het = getattr(d, "het", None)
    if isinstance(het, pd.DataFrame) and "median" in het and (het.get("parameter") == "tau").any():
        return float(het.loc[het["parameter"] == "tau", "median"].iloc[0])
    return float(np.median(tau))


def comparison_words(d, fit: FrequentistFit, pairs: pd.DataFrame, names: dict[str, str], fallback: str) -> str:
    """Where the Bayesian and frequentist answers differ, and the usual reason (tau)."""
    measure = d.network.measure
    bt = _bayes_tau(d)
    tau = float(np.sqrt(fit.tau2))
    lo, hi = (float(np.sqrt(x)) for x in fit.tau2_ci)
    if bt is None:
        tau_text = "Both models are fixed effect (tau = 0), so they differ only through the Bayesian priors on d."
    elif fit.method == "fixed":
        tau_text = (f"The Bayesian posterior median of tau is {bt:.3f}; the frequentist companion has tau = 0 "
                    "(fixed effect), so its intervals are narrower wherever the Bayesian tau adds uncertainty.")
    else:
        tau_text = (f"The Bayesian posterior median of tau is {bt:.3f}; the {fit.method} estimate is {tau:.3f} "
                    f"(95% Q-profile CI {lo:.3f} to {'infinity' if not np.isfinite(hi) else f'{hi:.3f}'}). "
                    + ("The Bayesian tau is larger, so its intervals are wider: with few trials the prior on tau "
                       "carries weight, while REML can estimate tau at or near 0."
                       if bt > tau else "The frequentist tau is at least as large, so its intervals are not narrower "
                       "because of tau."))
    half = pairs[pairs["treatment"] < pairs["comparator"]] if len(pairs) else pairs
    big = half.loc[half["difference_model_scale"].abs().idxmax()] if len(half) else None
    contrast_text = ""
    if big is not None:
        pair = f"{names.get(big['treatment'], big['treatment'])} vs {names.get(big['comparator'], big['comparator'])}"
        contrast_text = (f"The largest difference in a point estimate is for {pair}: {measure.code} "
                         f"{big['bayes_median']:.2f} (Bayesian median) vs {big['freq_estimate']:.2f} (frequentist), "
                         f"{abs(big['difference_model_scale']):.3f} on the {measure.model_scale} scale. Bayesian 95% "
                         f"CrIs are {half['width_ratio'].min():.2f} to {half['width_ratio'].max():.2f} times as wide "
                         "as the frequentist 95% CIs.")
    return " ".join(x for x in (fallback, tau_text, contrast_text) if x)


def _dbt_words(dbt, T: int) -> tuple[str, tuple[str, ...]]:
    if dbt is None:
        return ("With two treatments there is no loop, so no design-by-treatment test.", ())
    if dbt.df_inconsistency == 0:
        return ("The network has no closed loop of independent evidence (0 degrees of freedom between designs): "
                "the design-by-treatment test cannot assess inconsistency here.", ())
    fixed, random = dbt.test("fixed"), dbt.test("random")
    text = (f"Design-by-treatment interaction (Higgins et al. 2012), global Wald test of inconsistency on "
            f"{fixed['df']} df: fixed effect chi2 = {fixed['Q']:.2f}, p = {fixed['p_value']:.3g}; random effects "
            f"(tau^2 = {random['tau2']:.3g} from the design-by-treatment model, as netmeta's decomp.design) chi2 = "
            f"{random['Q']:.2f}, p = {random['p_value']:.3g}.")
    if fixed["p_value"] < 0.05 <= random["p_value"]:
        text += (" The fixed-effect test rejects and the random-effects one does not: heterogeneity between trials, "
                 "not only inconsistency between designs, may drive the fixed-effect result.")
    notes = ()
    if random["p_value"] < 0.05:
        notes = (f"ModelWarning: the design-by-treatment global test finds inconsistency between designs (random "
                 f"effects chi2 = {random['Q']:.2f} on {random['df']} df, p = {random['p_value']:.3g}); see "
                 "frequentist_design_by_treatment.csv",)
    return text, notes


def section(d) -> Section | None:
    """The frequentist companion's tables and paragraph; None for an arm-level (binomial) analysis or with
    [frequentist] enabled = false."""
    if not isinstance(d.network, Network) or not _block(d).get("enabled", True):
        return None
    names = _names(d)
    measure = d.network.measure
    fit, fallback = companion(d)
    order = d.order
    pairs = side_by_side(d, fit)
    rel = fit.relative_effects().rename(columns={"estimate": "median"})
    long = league.league_long(rel, None, fit.treatments, measure)
    matrix = league.league_matrix(long, order, with_prob=False)
    cells = league.league_cells(long, matrix, names)
    het = fit.heterogeneity()
    ranks = fit.pscores().merge(d.rank_table[[TREATMENT, "sucra"]], on=TREATMENT, how="left")
    ranks = ranks.sort_values("pscore", ascending=False).reset_index(drop=True)
    dbt = design_by_treatment(d.network, fit.tau2 if fit.method != "fixed" else None) if len(fit.treatments) > 2 else None
    dbt_text, notes = _dbt_words(dbt, len(fit.treatments))
    model = ("fixed effect" if fit.method == "fixed" else
             f"random effects, common tau estimated by {fit.method}")
    paras = [f"The same contrasts fitted by generalised least squares with the multi-arm covariance ({model}), as "
             "netmeta and metafor's rma.mv fit them: 95% Wald confidence intervals, no priors. "
             + comparison_words(d, fit, pairs, names, fallback),
             dbt_text + " " + BAYESIAN_ABSENT]
    body = "".join(f"<p>{Markup.escape(p)}</p>" for p in paras)
    het_shown = het.copy()
    for caption, df, digits in (
            (f"Frequentist league table: {measure.code} (95% CI) of the row treatment versus the column treatment, "
             "in the order of the Bayesian league table.", cells.reset_index(names="row \\ column"), 2),
            ("Bayesian (median, 95% CrI) and frequentist (estimate, 95% CI) estimates of each pair (the row earlier in "
             "the league order versus the later one; every ordered pair in frequentist_pairs.csv), shown scale; "
             "difference of point estimates on the model scale; width ratio = CrI width / CI width.",
             _upper(pairs, order), 3),
            ("Heterogeneity and the Q decomposition (Q total = within designs + between designs).", het_shown, 3),
            ("P-scores (frequentist) beside SUCRA (Bayesian), higher is better.", ranks, 3)):
        body += f"<p class='caption small'>{Markup.escape(caption)}</p><div class='wide'>{_table(df, digits, names)}</div>"
    tables = {"frequentist_relative_effects.csv": fit.relative_effects(), "frequentist_pairs.csv": pairs,
              "frequentist_heterogeneity.csv": het, "frequentist_pscores.csv": ranks}
    sheets = {"Frequentist league": cells.reset_index(names="row \\ column"), "Frequentist pairs": pairs,
              "Frequentist heterogeneity": het, "P-scores and SUCRA": ranks}
    if dbt is not None:
        tests = dbt.global_test
        body += (f"<p class='caption small'>{Markup.escape('Design-by-treatment global test of inconsistency (Wald).')}"
                 f"</p><div class='wide'>{_table(tests, 3, names)}</div>"
                 f"<p class='caption small'>{Markup.escape('Q within each design (heterogeneity between its studies).')}"
                 f"</p><div class='wide'>{_table(dbt.per_design, 3, names)}</div>")
        tables.update({"frequentist_design_by_treatment.csv": tests, "frequentist_q_per_design.csv": dbt.per_design,
                       "frequentist_q_detached.csv": dbt.detached, "frequentist_net_heat.csv": dbt.net_heat})
        sheets["Design-by-treatment"] = tests
    return Section("frequentist", "Frequentist companion (GLS, netmeta's model)", Markup(body), tables, sheets,
                   notes=notes)
