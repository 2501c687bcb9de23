"""Report sections of [model.regression] (network meta-regression) and [model.classes] (class effects).

Each reads the extension fitted beside the main analysis (`d.cfg.extensions`, nma/app/extensions.py: exact
engine, the main analysis's spec) and says plainly that the league table, forest plot and rankings above are the
unadjusted model's. Tables are numbers on the model scale plus the shown scale (e.g. HR); what the covariate or the
classes changed is stated in words: tau with and without, DIC of both, the effects that moved.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from nma.constants import CI_PROB
from nma.models import regression as reg
from nma.posterior.summaries import ranks
from nma.reporting.report import _table
from nma.reporting.sections import Section

#: The exact draws behind DIC and the class rankings, and their seed (fixed: the report's numbers are reproducible).
DRAWS, SEED = reg.N_DRAWS, 1
#: A DIC difference smaller than this is "no difference in fit" (TSD2: differences under 3 to 5 points are not
#: considered important).
DIC_MEANINGFUL = 3.0

DIC_TEXT = ("DIC = posterior mean residual deviance + pD (NICE DSU TSD2), computed from {n} exact draws of each model's "
            "posterior (the exact engine; pD's Monte Carlo SD is about sqrt(2 pD / {n})).")


def _extension(d, kind: str):
    return next((e for e in getattr(d.cfg, "extensions", ()) or () if e.kind == kind), None)


def _names(d) -> dict[str, str]:
    return d._meta_labels() if hasattr(d, "_meta_labels") else {}


def _shown(df: pd.DataFrame, measure, cols=("median", "lower", "upper")) -> pd.DataFrame:
    """`df` with the shown-scale columns (exp_* for a ratio measure) beside the model-scale ones."""
    if not measure.is_ratio:
        return df
    return df.assign(**{f"exp_{c}": np.exp(df[c].to_numpy(float)) for c in cols})


def _cri(row, measure, shown: bool = True) -> str:
    f = (lambda v: float(measure.to_shown(v))) if shown else float
    return f"{f(row['median']):.2f} ({f(row['lower']):.2f} to {f(row['upper']):.2f})"


def comparison_table(post, n: int = DRAWS, seed: int = SEED) -> pd.DataFrame:
    """`compare_unadjusted` with the DIC difference (adjusted minus unadjusted)."""
    comp = reg.compare_unadjusted(post, n, seed)
    return comp.assign(dic_minus_unadjusted=comp["DIC"] - float(comp.loc[comp["model"] == "unadjusted", "DIC"].iloc[0]))


def _changed(comp: pd.DataFrame, random: bool) -> list[str]:
    a, u = (comp[comp["model"] == m].iloc[0] for m in ("adjusted", "unadjusted"))
    out = []
    if random:
        drop = 1 - a["tau_median"] / u["tau_median"] if u["tau_median"] > 0 else np.nan
        out.append(f"Heterogeneity: tau median {u['tau_median']:.3f} ({u['tau_lower']:.3f} to {u['tau_upper']:.3f}) "
                   f"without, {a['tau_median']:.3f} ({a['tau_lower']:.3f} to {a['tau_upper']:.3f}) with"
                   + (f": {drop:.0%} of the median explained." if drop > 0 else ": none explained."))
    diff = a["DIC"] - u["DIC"]
    verdict = ("fits better" if diff < -DIC_MEANINGFUL else "fits worse" if diff > DIC_MEANINGFUL
               else f"fits no differently (|difference| < {DIC_MEANINGFUL:g})")
    out.append(f"Model fit: DIC {a['DIC']:.1f} (pD {a['pD']:.1f}) with, {u['DIC']:.1f} (pD {u['pD']:.1f}) without: "
               f"the model {verdict}.")
    return out


def _html(paragraphs: list[str], tables: list[tuple[str, pd.DataFrame]], names: dict[str, str]) -> Markup:
    body = "".join(f"<p>{Markup.escape(p)}</p>" for p in paragraphs)
    for caption, df in tables:
        body += f"<p class='caption small'>{Markup.escape(caption)}</p><div class='wide'>{_table(df, 3, names)}</div>"
    return Markup(body)


# ---- meta-regression ------------------------------------------------------------------------------------------------
def regression_tables(ext, measure) -> dict[str, pd.DataFrame]:
    """The section's tables: coefficients, effects at the chosen values (every pair), model comparison, covariate."""
    post = ext.posterior
    span = reg.covariate_range(post)
    at = list(ext.at) or ([span[0], span[1]] if span is not None else sorted({str(v) for v in ext.values.values()}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # extrapolation is a section note (regression_notes)
        effects = reg.effects_at(post, at)
    return {"regression_coefficients.csv": _shown(reg.coefficients(post), measure),
            "regression_effects.csv": _shown(effects, measure),
            "regression_model_comparison.csv": comparison_table(post),
            "regression_covariate.csv": pd.DataFrame({"study": list(post.network.studies),
                                                      "value": [ext.values[s] for s in post.network.studies]})}


def regression_notes(ext) -> list[str]:
    """multinma's cautions: few trials per coefficient, unidentified coefficients, ecological bias; and values of
    `at` outside the observed range (extrapolation)."""
    post = ext.posterior
    out = [f"Meta-regression on {ext.regression.covariate}: {n}" for n in reg.notes(post)]
    span = reg.covariate_range(post)
    outside = [v for v in ext.at if span is not None and not span[0] <= float(v) <= span[1]]
    if outside:
        out.append(f"Meta-regression: effects at {ext.regression.covariate} = {', '.join(f'{float(v):g}' for v in outside)}"
                   f" are extrapolations outside the trials' observed range ({span[0]:g} to {span[1]:g}).")
    return out


def _coefficient_sd(post) -> list[str]:
    """Exchangeable coefficients: their SD (and its prior) in words."""
    var = reg.variance_parameters(post).set_index("parameter")
    if "beta_sd" not in var.index:
        return []
    r = var.loc["beta_sd"]
    return [f"SD of the exchangeable coefficients (model scale per unit of the covariate; prior "
            f"{post.model.sigma_prior.text}): median {r['median']:.3f} ({r['lower']:.3f} to {r['upper']:.3f})."]


def interaction_verdict(row, covariate: str) -> str:
    """What the interaction says, in words: whether its 95% CrI excludes no interaction (0 on the model scale)."""
    if row["lower"] > 0 or row["upper"] < 0:
        return (f"What the covariate changed: the 95% CrI of {row['parameter']} excludes 0, so the data indicate that "
                f"the relative effects depend on {covariate} (an across-trial association; see the cautions).")
    return (f"What the covariate changed: the 95% CrI of {row['parameter']} includes 0, so the data show no clear "
            f"dependence of the relative effects on {covariate}; the effects at each value are wider than the "
            "unadjusted ones because the interaction is uncertain.")


def section(d) -> Section | None:
    """Network meta-regression: beta, effects at chosen covariate values, tau and DIC with and without, the figure."""
    ext = _extension(d, "regression")
    if ext is None:
        return None
    from nma.reporting.plots import save_figure
    from nma.reporting.regression_plot import effect_vs_covariate

    post, m, names = ext.posterior, d.network.measure, _names(d)
    tables = regression_tables(ext, m)
    coef, effects, comp = (tables[k] for k in ("regression_coefficients.csv", "regression_effects.csv",
                                               "regression_model_comparison.csv"))
    main = coef[coef["kind"] == ("beta_mean" if (coef["kind"] == "beta_mean").any() else "beta")]
    ref = d.network.reference
    ref_name = names.get(ref, ref)
    unit = "per category versus the reference level" if post.model.centre is None else "per unit of the covariate"
    paras = [f"Which model: network meta-regression ({ext.regression.coefficients} interaction coefficients) on "
             f"{ext.regression.covariate}, fitted beside the main analysis on the exact engine with the same priors. "
             "The headline, league table, forest plot and rankings above are the UNADJUSTED model's; the tables of "
             "this section are the meta-regression's.",
             f"Covariate: {ext.source}. Values per trial: "
             + "; ".join(f"{s} {ext.values[s]:g}" if isinstance(ext.values[s], float) else f"{s} {ext.values[s]}"
                         for s in post.network.studies) + "."
             + (f" Centred at {post.model.centre:g}: d is the effect at {ext.regression.covariate} = "
                f"{post.model.centre:g}." if post.model.centre is not None else ""),
             *(f"Interaction {r['parameter']} ({unit}, model scale): {r['median']:.3f} ({r['lower']:.3f} to "
               f"{r['upper']:.3f}); as a ratio of {m.code}s, {_cri(r, m)}." for _, r in main.iterrows()),
             *_coefficient_sd(post),
             *(interaction_verdict(r, ext.regression.covariate) for _, r in main.iterrows()),
             *_changed(comp, d.spec.effects == "random"),
             DIC_TEXT.format(n=DRAWS)]
    vs_ref = effects[effects["comparator"] == ref].copy()
    vs_ref[f"{m.code} (95% CrI)"] = [_cri(r, m) for _, r in vs_ref.iterrows()]
    shown_effects = vs_ref[["covariate_value", "treatment", f"{m.code} (95% CrI)"]]
    unadj = d.rel[d.rel["comparator"] == ref].set_index("treatment")
    base = post.model.centre if post.model.centre is not None else (
        ext.regression.reference_level or sorted({str(v) for v in ext.values.values()})[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at_base = reg.effects_at(post, [base])
    at_base = at_base[at_base["comparator"] == ref].set_index("treatment")
    moved = pd.DataFrame([{"treatment": t, f"unadjusted {m.code} (95% CrI)": _cri(unadj.loc[t], m),
                           f"meta-regression at {base:g} {m.code} (95% CrI)" if isinstance(base, float) else
                           f"meta-regression at {base} {m.code} (95% CrI)": _cri(at_base.loc[t], m)}
                          for t in post.network.treatments[1:] if t in unadj.index])
    coef_shown = coef.assign(**{f"ratio per unit (95% CrI)" if m.is_ratio else "per unit (95% CrI)":
                                [_cri(r, m, m.is_ratio) for _, r in coef.iterrows()]})
    html = _html(paras, [(f"Interaction coefficients ({unit}): model scale and, for ratio measures, as a ratio.",
                          coef_shown[["parameter", "label", "mean", "sd", "median", "lower", "upper",
                                      coef_shown.columns[-1]]]),
                         (f"Effects versus {ref_name} at the chosen covariate values (meta-regression).", shown_effects),
                         (f"Effects versus {ref_name}: the unadjusted model against the meta-regression at the centre "
                          "(continuous) or the reference level (categorical).", moved),
                         ("Model comparison: residual deviance, pD, DIC and tau, with and without the covariate.",
                          comp)], names)
    fig_name = f"meta-regression: effect against {ext.regression.covariate}"
    folder = Path(tempfile.mkdtemp(prefix="nma_regression_"))   # moved into figures/ by sections.place_figures
    figures = {fig_name: save_figure(effect_vs_covariate(post, ext.values, m, names, ext.regression.covariate),
                                     folder / "regression_effect_vs_covariate")}
    captions = {fig_name: (f"Each compared pair's {m.code} against {ext.regression.covariate}: the meta-regression's "
                              "median (line) and 95% CrI (band) over the trials' observed range, and each trial's own "
                              "estimate (points, area proportional to precision 1/SE²). A line carried by one or two "
                              "points is weakly informed."
                              + (" With shared coefficients the line is flat for a pair of two non-reference "
                                 "treatments: the interaction cancels in their comparison."
                                 if ext.regression.coefficients == "shared" else ""))}
    sheets = {"Meta-regression coef": coef, "Meta-regression effects": effects, "Meta-regression fit": comp}
    return Section("meta-regression", f"Network meta-regression on {ext.regression.covariate}", html, tables, sheets,
                   figures, captions, tuple(regression_notes(ext)))


# ---- class effects --------------------------------------------------------------------------------------------------
def treatment_ranks(post, n: int = DRAWS, seed: int = SEED) -> pd.DataFrame:
    """Treatment-level rankings under the class model, from its exact draws (columns as `summaries.ranks`)."""
    theta, _, _ = post.draws(n, seed)
    idx = [post.parameters.index(f"d[{t}]") for t in post.network.treatments[1:]]
    draws = np.column_stack([np.zeros(n), theta[:, idx]])
    return ranks(draws, post.network.treatments, post.spec.lower_is_better, CI_PROB)


def class_tables(ext, measure) -> dict[str, pd.DataFrame]:
    post = ext.posterior
    out = {"class_effects.csv": _shown(reg.class_effects(post), measure),
           "class_variance.csv": reg.variance_parameters(post),
           "class_model_comparison.csv": comparison_table(post),
           "class_treatment_ranks.csv": treatment_ranks(post)}
    if len(post.model.index("class_mean")):
        out["class_ranks.csv"] = reg.class_ranks(post, DRAWS, SEED).rename(columns={"treatment": "class"})
    return out


def class_verdict(ce: pd.DataFrame, unadj: pd.DataFrame, class_ranks_: pd.DataFrame, unadj_ranks: pd.DataFrame,
                  measure, names: dict[str, str]) -> str:
    """What the classes changed, in words: the largest move of a treatment's effect and the best-ranked treatment."""
    d = ce[ce["kind"] == "d"].assign(treatment=lambda f: f["parameter"].str[2:-1]).set_index("treatment")
    common = [t for t in d.index if t in unadj.index]
    shift = pd.Series({t: float(d.loc[t, "median"] - unadj.loc[t, "median"]) for t in common})
    t = shift.abs().idxmax()
    best_c = class_ranks_.sort_values("sucra", ascending=False)["treatment"].iloc[0]
    best_u = unadj_ranks.sort_values("sucra", ascending=False)["treatment"].iloc[0]
    name = lambda x: names.get(x, x)  # noqa: E731
    return (f"What the classes changed: the largest move is {name(t)}, {measure.code} "
            f"{float(measure.to_shown(unadj.loc[t, 'median'])):.2f} unadjusted to "
            f"{float(measure.to_shown(d.loc[t, 'median'])):.2f} under the class model; the best-ranked treatment (SUCRA) "
            + (f"stays {name(best_u)}." if best_c == best_u else f"changes from {name(best_u)} to {name(best_c)}."))


def class_section(d) -> Section | None:
    """Class effects: class means, treatment effects shrunk toward them, the class SD, class-level rankings."""
    ext = _extension(d, "classes")
    if ext is None:
        return None
    post, m, names = ext.posterior, d.network.measure, _names(d)
    tables = class_tables(ext, m)
    ce, var, comp = tables["class_effects.csv"], tables["class_variance.csv"], tables["class_model_comparison.csv"]
    ref = d.network.reference
    groups = {}
    for t, c in zip(post.network.treatments, post.model.classes):
        groups.setdefault(c, []).append(names.get(t, t))
    paras = [f"Which model: {ext.classes.effects} class effects, fitted beside the main analysis on the exact engine "
             "with the same priors. The headline, league table, forest plot and rankings above are the UNADJUSTED "
             "model's (independent treatment effects); the tables of this section are the class model's.",
             "Classes: " + "; ".join(f"{c}: {', '.join(ts)}" for c, ts in groups.items()) + f". The class of {ref} "
             "(the reference) has mean 0; a class with one treatment has no within-class deviation.",
             reg.describe(None, ext.classes)]
    sd = var[var["parameter"] == "class_sd"]
    if len(sd):
        r = sd.iloc[0]
        paras.append(f"Class SD (model scale): median {r['median']:.3f} ({r['lower']:.3f} to {r['upper']:.3f}).")
    paras += [*_changed(comp, d.spec.effects == "random"), DIC_TEXT.format(n=DRAWS)]
    unadj = d.rel[d.rel["comparator"] == ref].set_index("treatment")
    tr = tables["class_treatment_ranks.csv"]
    rows = []
    for _, r in ce.iterrows():
        label = r["parameter"][2:-1] if r["kind"] == "d" else r["class"]
        row = {"parameter": r["parameter"], "class": r["class"], f"class model {m.code} (95% CrI)": _cri(r, m)}
        row[f"unadjusted {m.code} (95% CrI)"] = _cri(unadj.loc[label], m) if r["kind"] == "d" and label in unadj.index else ""
        rows.append(row)
    rank_cmp = pd.DataFrame({"treatment": tr["treatment"], "SUCRA (class model)": tr["sucra"],
                             "SUCRA (unadjusted)": tr["treatment"].map(d.rank_table.set_index("treatment")["sucra"])})
    verdict = class_verdict(ce, unadj, tr, d.rank_table, m, names)
    paras.append(verdict)
    ref_name = names.get(ref, ref)
    shown = [(f"Class means and treatment effects versus {ref_name}: class model against the unadjusted model.",
              pd.DataFrame(rows)),
             ("Treatment-level rankings (SUCRA) under the class model and the unadjusted model.", rank_cmp)]
    if "class_ranks.csv" in tables:
        cr = tables["class_ranks.csv"]
        shown.append(("Class-level rankings (class means; the reference's class at 0).",
                      cr[["class", "mean_rank", "median_rank", "rank_lower", "rank_upper", "sucra", "p_best"]]))
    shown.append(("Model comparison: residual deviance, pD, DIC and tau, with and without classes.", comp))
    sheets = {"Class effects": tables["class_effects.csv"], "Class fit": comp}
    column = (d.cfg.raw.get("model", {}).get("classes", {}) or {}).get("column")
    return Section("class-effects", f"Class effects by {column}" if column else "Class effects",
                   _html(paras, shown, names), tables, sheets, {}, {},
                   (f"Class effects ({ext.classes.effects}): {verdict}",) if "changes from" in verdict else ())
