"""What HTA analysts and committees take away: league tables, rankings, draws, figures and the report.

Written into the run's temporary folder, so they appear only when the whole run succeeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from nma.constants import __version__
from nma.constants import TREATMENT
from nma.models.families import family_of
from nma.posterior.summaries import (
    cumulative_rank_probabilities,
    mid_probabilities,
    prob_better,
)
from nma.reporting import league, plots, sections
from nma.errors import rank_warnings, warnings_text
from nma.reporting.report import (
    characteristics_html,
    fmt_prob,
    keep_interval,
    league_html,
    named,
    named_html,
    render_league,
    render_report,
)

#: What each figure shows and how to read it, by the report's figure name; {ref} is the reference treatment's name,
#: {m} the measure's code.
CAPTIONS = {
    "network": "The treatment network: one node per treatment (area proportional to patients randomised), one edge per "
               "pair compared head to head in a trial (width proportional to the number of trials, labelled with the "
               "trials). Treatments not joined by an edge are compared only indirectly.",
    "forest": "Each treatment versus {ref}: {m} (square, median) with its 95% credible interval (black bar){pred}. "
              "The numbers are printed on the right. Intervals that do not cross the vertical line at no effect "
              "exclude no difference at the 95% level; the labels under the axis say which side favours whom.",
    "rankogram": "Probability of each rank (1 = best) per treatment. A treatment whose probability is spread over many "
                 "ranks has an uncertain rank; SUCRA (legend) summarises the curve.",
    "cumulative rankogram": "Probability that each treatment ranks k-th or better. The area under each curve is its "
                            "SUCRA: the higher the curve, the better the treatment.",
    "league heatmap": "Median {m} of the row treatment versus the column treatment. Green: favours the row; pink: favours "
                      "the column (the same colours as the league table); the deeper the colour, the larger the effect.",
    "tau prior and posterior": "Between-trial standard deviation tau: its prior (line) and posterior (histogram). A "
                               "posterior that looks like the prior means the data say little about heterogeneity.",
    "node-splitting": "For each comparison with both direct and indirect evidence: the direct, indirect and network "
                      "estimates with 95% CrIs and the Bayesian p-value of their difference. Direct and indirect "
                      "intervals that barely overlap (small p) point to inconsistency.",
    "dev-dev (consistency vs UME)": "Residual deviance of each trial under the consistency model (x) and the "
                                    "unrelated-mean-effects model (y). Points near the line fit both equally; points "
                                    "well below it fit worse under consistency. Only outliers are labelled.",
    "heterogeneity prior sensitivity": "Each treatment versus {ref} under other priors for tau and under fixed effect. "
                                       "If the intervals move much between priors, the conclusions depend on the prior.",
    "trace": "MCMC traces and posterior densities, one panel per parameter group, one line per chain (legend): "
             "well-mixed chains overlap and look like stationary noise (at most 1,000 evenly spaced draws per chain "
             "are drawn).",
    "rank plot": "Rank plots of the MCMC draws per chain (at most 1,000 evenly spaced draws per chain): roughly "
                 "uniform histograms mean the chains mix.",
}

#: Draws per chain shown in the trace and rank plots (every k-th draw beyond this).
PLOT_DRAWS = 1000

#: The abbreviations the report uses.
ABBREVIATIONS = {"CrI": "credible interval (95%, equal-tailed)", "CI": "confidence interval (as published)",
                 "HR": "hazard ratio", "OR": "odds ratio", "RR": "risk ratio", "MD": "mean difference",
                 "SUCRA": "surface under the cumulative ranking curve", "P(better)": "posterior probability of being better",
                 "tau": "between-trial standard deviation (heterogeneity)", "DIC": "deviance information criterion",
                 "pD": "effective number of parameters", "UME": "unrelated mean effects (inconsistency model)",
                 "LOO": "leave-one-out cross-validation (PSIS-LOO)", "ESS": "effective sample size",
                 "MCSE": "Monte Carlo standard error", "SE": "standard error"}


def shown_warning(text: str) -> str:
    """A warning as the report shows it: without the Python class that raised it ("ModelWarning: ..."), which means
    nothing to a committee (its kind and severity are shown beside it)."""
    return re.sub(r"^(ModelWarning|EvidenceWarning|UserWarning|RuntimeWarning): ", "", text)


def sensitivity_wide(sens: pd.DataFrame, code: str, names: dict[str, str]) -> pd.DataFrame:
    """The tau-prior sensitivity as a committee compares it: one row per treatment versus the reference, one column
    per prior (the analysis's own first), each cell the effect with its 95% CrI and SUCRA; then tau's median and 95%
    CrI and its posterior-to-prior SD ratio under each prior. `sens`: checks.sensitivity's long table
    (prior, analysis, treatment, comparator, <code>_median/_lower/_upper, sucra, tau_*)."""
    c = code.lower()
    priors = list(pd.unique(sens.loc[sens["analysis"].astype(bool), "prior"])) + [
        p for p in pd.unique(sens["prior"]) if not sens.loc[sens["prior"] == p, "analysis"].astype(bool).any()]
    label = {p: f"{p} (this analysis)" if sens.loc[sens["prior"] == p, "analysis"].astype(bool).any() else p
             for p in priors}
    rows = []
    for t in pd.unique(sens["treatment"]):
        g = sens[(sens["treatment"] == t)].set_index("prior")
        if g[f"{c}_median"].isna().all():
            continue                                    # the reference: no effect versus itself
        row = {"treatment": names.get(str(t), str(t))}
        for p in priors:
            r = g.loc[p]
            row[label[p]] = (f"{r[f'{c}_median']:.2f} ({r[f'{c}_lower']:.2f} to {r[f'{c}_upper']:.2f}); "
                             f"SUCRA {r['sucra']:.2f}")
        rows.append(row)
    first = sens.drop_duplicates("prior").set_index("prior")
    tau = {"treatment": "tau, median (95% CrI)"}
    ratio = {"treatment": "tau: posterior SD / prior SD"}
    for p in priors:
        r = first.loc[p]
        fixed = pd.isna(r["tau_median"])
        tau[label[p]] = "0 (fixed effect)" if fixed else f"{r['tau_median']:.2f} ({r['tau_lower']:.2f} to {r['tau_upper']:.2f})"
        ratio[label[p]] = "" if pd.isna(r["tau_sd_ratio"]) else f"{r['tau_sd_ratio']:.2f}"
    return pd.DataFrame([*rows, tau, ratio])


def treatment_names(treatments_meta: pd.DataFrame, network) -> dict[str, str]:
    """Treatment id -> name, for every table, figure, report and console line a reader sees.

    From `treatments_meta` (data/treatments.csv's id and label, or a config's [data] treatments file) and the
    network's own labels (which win); ids without a name are left out, so ``names.get(t, t)`` shows the id."""
    meta = treatments_meta
    names = dict(zip(meta["id"].astype(str), meta["label"].astype(str))) if meta is not None and len(meta) else {}
    names.update({str(k): str(v) for k, v in (getattr(network, "labels", None) or {}).items()})
    return {k: v for k, v in names.items() if v and v != "nan"}


@dataclass(frozen=True, eq=False)
class Deliverables:
    cfg: object
    network: object
    spec: object
    rel: pd.DataFrame
    rank_table: pd.DataFrame
    het: pd.DataFrame | None
    fixed: pd.DataFrame | None
    draws: np.ndarray             # (n, T), reference column of zeros first
    tau_draws: np.ndarray | None
    groups: dict                  # the posterior's xarray Datasets by group (Fit._groups): posterior, log_likelihood, ...
    diag: pd.DataFrame | None
    divergences: int
    notes: tuple[str, ...]
    selection_log: tuple[str, ...]
    sources: pd.DataFrame
    treatments_meta: pd.DataFrame
    converged: bool
    run_info: dict
    engine: str
    fit: pd.DataFrame | None = None
    checks: object | None = None  # nma.checks.ModelChecks: node-split, UME, tau-prior sensitivity
    posterior: object | None = None  # the fit's Posterior: its tau posterior pools a direct estimate's trials

    @property
    def order(self) -> list[str]:
        """League order: from the config (checked against the network before fitting, nma/app/validate.py), else by
        SUCRA (best first)."""
        if self.cfg.league_order:
            return [t for t in self.cfg.league_order if t in self.network.treatments]
        return list(self.rank_table.sort_values("sucra", ascending=False)[TREATMENT])

    def write(self, folder: Path) -> None:
        treatments = self.network.treatments
        lower = self.spec.lower_is_better
        measure = self.network.measure     # a Measure: ratios shown exponentiated, differences as they are
        p_better = prob_better(self.draws, lower)
        long = league.league_long(self.rel, p_better, treatments, measure)
        direct_upper = self.cfg.league_upper == "direct"
        direct = None
        if direct_upper:
            from nma.constants import CI_PROB
            from nma.models.exact import direct_estimates
            from nma.posterior.summaries import probs_for

            direct_rel = direct_estimates(self.network, self.spec, probs_for(CI_PROB), posterior=self.posterior)
            direct_rel.to_csv(folder / "direct_effects.csv", index=False, lineterminator="\n")
            direct = league.shown_scale(direct_rel, measure)
        matrix = league.league_matrix(long, self.order, direct=direct)
        text = league.caption(measure, lower, direct_upper=direct_upper)
        footnotes = [f"Model: {self.spec.effects} effects; " + " ".join(self.spec.describe().splitlines()[1:-1]),  # both priors
                     f"Analysis {self.cfg.name}; nma {__version__}; input hash {self.run_info['input_hash'][:12]}; "
                     f"seed {self.run_info['seed']}."]
        if not self.converged:
            footnotes.insert(0, "UNCONVERGED: these results failed the convergence gate.")
        league.write_csv(long, matrix, folder)
        names = self._meta_labels()
        pd.DataFrame({"id": list(treatments), "name": [names.get(t, t) for t in treatments]}).to_csv(
            folder / "treatment_names.csv", index=False, lineterminator="\n")   # the index names treatments by these
        paste = (league.caption(measure, lower, with_prob=False, direct_upper=direct_upper)
                 + f" Model: {' '.join(self.spec.describe().splitlines()[:-1])} Credible intervals: 95%, equal-tailed."
                 + (" P(row better): sheet 'P(row better)'." if "p_row_better" in long else ""))
        abbreviations = {k: v for k, v in ABBREVIATIONS.items() if k in ("CrI", measure.code, "P(better)", "tau")}
        league.write_xlsx(long, matrix, folder / "league_table.xlsx", paste, footnotes, lower, direct_upper,
                          names=names, abbreviations=abbreviations)
        league.write_docx(long, matrix, folder / "league_table.docx", paste.replace(" P(row better): sheet "
                          "'P(row better)'.", ""), footnotes, names=names, abbreviations=abbreviations)
        (folder / "league_table.md").write_text(league.to_markdown(matrix, text, names), encoding="utf-8")
        lhtml = league_html(matrix, long, lower, direct_upper, self._meta_labels())  # shading: the null from `long`
        (folder / "league_table.html").write_text(render_league(self.cfg.title, text, lhtml, footnotes), encoding="utf-8")
        cumulative_rank_probabilities(self.rank_table).to_csv(folder / "ranks_cumulative.csv", index=False, lineterminator="\n")
        if self.cfg.mid is not None:
            mid_probabilities(self.draws, treatments, float(self.cfg.mid), lower).to_csv(
                folder / "mid.csv", index=False, lineterminator="\n")
        self._write_draws(folder / "draws.csv")
        if (absolute := self.absolute_effects()) is not None:
            absolute.to_csv(folder / "absolute_effects.csv", index=False, lineterminator="\n")
        chars = self.characteristics()
        if chars is not None:
            chars[0].reset_index().to_csv(folder / "characteristics.csv", index=False, lineterminator="\n")
        if self._ranking_notes():   # a key warning found only here: warnings.txt lists it with the rest
            (folder / "warnings.txt").write_text(warnings_text([*self.notes, *self._ranking_notes()]), encoding="utf-8")
        extra_sections = sections.collect(self)
        for s in extra_sections:
            for fname, table in s.tables.items():
                table.to_csv(folder / fname, index=False, lineterminator="\n")
        sections.write_sheets(folder / "league_table.xlsx", extra_sections)
        if any(s.notes for s in extra_sections):
            (folder / "warnings.txt").write_text(warnings_text([*self.notes, *self._ranking_notes(),
                                                                *(n for s in extra_sections for n in s.notes)]),
                                                 encoding="utf-8")
        images = self._figures(folder / "figures", long)
        extra_sections = sections.place_figures(folder / "figures", extra_sections)
        self._report(folder / "report.html", long, matrix, text, images, extra_sections)

    def characteristics(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """Trial characteristics of this network's trials, with the cells that differ flagged (transitivity)."""
        if self.cfg.evidence_dir is None or "trial" not in self.network.contrasts:
            return None
        from nma.evidence.characteristics import characteristics_for

        return characteristics_for(self.cfg.evidence_dir, self.network.contrasts["trial"].astype(str))

    def absolute_effects(self) -> pd.DataFrame | None:
        """Implied median time to event per treatment, given the reference arm's median: an APPROXIMATION.

        Under proportional hazards with an exponential baseline, median_t = median_ref / HR(t vs ref).
        Real survival curves are rarely exponential; use this for orientation, not for economic models."""
        if self.cfg.reference_median_months is None:
            return None
        from nma.constants import CI_PROB
        from nma.posterior.summaries import probs_for

        lo, mid, hi = probs_for(CI_PROB)
        med = float(self.cfg.reference_median_months) / np.exp(self.draws)   # (n, T); reference column = median_ref
        q = np.quantile(med, [lo, mid, hi], axis=0)
        return pd.DataFrame({TREATMENT: list(self.network.treatments), "median_months": q[1], "lower": q[0], "upper": q[2],
                             "assumption": "exponential baseline, proportional hazards; reference median "
                                           f"{self.cfg.reference_median_months:g} months"})

    def _write_draws(self, path: Path) -> None:
        """Posterior draws of every basic parameter (log-HR, or log-OR for binary data, vs the reference) and tau,
        for economic models; the scale is in run.json (spec.measure)."""
        post = self.groups["posterior"]
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        frame = pd.DataFrame({"chain": np.repeat(np.arange(n_chain), n_draw), "draw": np.tile(np.arange(n_draw), n_chain)})
        d = post["d"].transpose("chain", "draw", TREATMENT).to_numpy().reshape(n_chain * n_draw, -1)
        for i, t in enumerate(post[TREATMENT].values):
            frame[f"d[{t}]"] = d[:, i]
        if "tau" in post:
            frame["tau"] = post["tau"].transpose("chain", "draw").to_numpy().ravel()
        frame.to_csv(path, index=False, lineterminator="\n")

    def _figures(self, folder: Path, long: pd.DataFrame) -> dict[str, Path]:
        """Every figure of the report, saved in `folder` (PNG + SVG); the report's caption -> PNG path."""
        folder.mkdir()
        meta = self.treatments_meta.set_index("id") if len(self.treatments_meta) else pd.DataFrame()
        labels = self._meta_labels()
        dual = {t: bool(meta.loc[t, "dual_blockade"]) for t in self.network.treatments if t in meta.index} if len(meta) else {}
        measure = self.spec.measure
        save = plots.save_figure
        images = {"network": save(plots.network_plot(self.network.contrasts, labels, dual), folder / "network"),
                  "forest": save(plots.forest_plot(self.rel, self.network.reference, measure, fixed=self.fixed,
                                                   labels=labels, lower_is_better=self.spec.lower_is_better),
                                 folder / "forest")}
        for comp in self.cfg.forest_comparators:   # checked against the network before fitting (nma/app/validate.py)
            if comp != self.network.reference:
                images[f"forest versus {labels.get(comp, comp)}"] = save(
                    plots.forest_plot(self.rel, comp, measure, labels=labels, lower_is_better=self.spec.lower_is_better),
                    folder / f"forest_vs_{comp}")
        images["rankogram"] = save(plots.rankogram(self.rank_table, labels=labels), folder / "rankogram")
        images["cumulative rankogram"] = save(plots.rankogram(self.rank_table, cumulative=True, labels=labels),
                                              folder / "rankogram_cumulative")
        images["league heatmap"] = save(plots.league_heatmap(long, self.order, measure, labels=labels,
                                                             lower_is_better=self.spec.lower_is_better),
                                        folder / "league_heatmap")
        if self.tau_draws is not None:
            images["tau prior and posterior"] = save(plots.tau_plot(self.tau_draws, self.spec.tau_prior, measure),
                                                     folder / "tau")
        if self.checks is not None:
            images.update(plots.check_figures(self.checks, folder, labels))
        if self.engine == "mcmc":
            names = ["d"] + (["tau"] if self.tau_draws is not None else [])
            # at most PLOT_DRAWS draws per chain, evenly spaced: the same picture as every draw, in a fraction of
            # the time to draw and write (20,000 draws made these two figures 5 s of a 7 s run's writing)
            shown = self.groups["posterior"][names]
            shown = shown.thin({"draw": max(1, -(-shown.sizes["draw"] // PLOT_DRAWS))})
            images["trace"] = save(plots.trace_plot(shown, names), folder / "trace")
            images["rank plot"] = save(plots.rank_plot(shown, names), folder / "rank")
        return images

    def _check_tables(self) -> dict:
        """Report excerpts of the model checks on the measure's shown scale (HR, or MD as it is), the columns a
        committee reads."""
        if self.checks is None:
            return {"checks": False}
        m = self.network.measure
        split = self.checks.nodesplit
        if split is not None:
            shown = {c: m.to_shown(split[c].to_numpy(float)) for c in ("median", "lower", "upper")}
            split = split[["treatment", "comparator", "estimate"]].assign(
                **{f"{m.code} or ratio (95% CrI)" if m.is_ratio else f"{m.code} (95% CrI)": [
                    f"{a:.2f} ({b:.2f} to {c:.2f})" for a, b, c in zip(shown["median"], shown["lower"], shown["upper"])]},
                p_value=split["p_value"], direct_studies=split["direct_studies"])
        sens = self.checks.sensitivity
        if sens is not None:
            sens = sensitivity_wide(sens, m.code, self._meta_labels())
        engine = family_of(self.network).checks_text
        return {"checks": True, "nodesplit": split, "no_nodesplit": self.checks.no_nodesplit, "ume": self.checks.ume,
                "sensitivity": sens, "checks_engine": engine}

    def _evidence_note(self) -> str:
        """How the evidence entered the model, in one sentence for the report's Evidence section."""
        m = self.network.measure
        if family_of(self.network).evidence_text:
            return family_of(self.network).evidence_text
        if self.cfg.selection is not None or "ci_lower" in self.network.contrasts:   # data/, or a ratio file / from_ratios
            return f"Log-{m.code}s and SEs are computed from the reported {m.code} and CI."
        if m.is_ratio:
            return f"Log-{m.code}s ({m.model_scale}s) and their SEs as given in the contrast file."
        return f"{m.name[0].upper() + m.name[1:]}s ({m.code}) and their SEs as given in the contrast file."

    def _treatment_labels(self) -> list[dict]:
        """id, label (and description when given) of each treatment that has a label, for the report."""
        labels = getattr(self.network, "labels", None)
        if not labels:
            return []   # data/'s treatments are described in data/treatments.csv, not repeated in the report
        meta = self.treatments_meta
        described = (dict(zip(meta["id"], meta["description"])) if len(meta) and "description" in meta else {})
        return [{"id": t, "label": labels[t], "description": described.get(t, "") or ""}
                for t in self.network.treatments if t in labels]

    def _meta_labels(self) -> dict[str, str]:
        """Treatment id -> name (`treatment_names`); it may name treatments of the sensitivity networks too."""
        return treatment_names(self.treatments_meta, self.network)

    def _companions(self):
        """SUCRA (mean rank) of each treatment under the main network and each sensitivity network, side by side."""
        table = getattr(self.cfg, "companions", None)
        if table is None:
            return None
        labels = self._meta_labels()
        cell = table.assign(cell=[f"{s:.2f} ({r:.1f})" for s, r in zip(table["sucra"], table["mean_rank"])])
        wide = cell.pivot(index="treatment", columns="analysis", values="cell")
        order = list(pd.unique(table["analysis"]))
        wide = wide[order].fillna("not in network")
        wide.index = [labels.get(t, t) for t in wide.index]
        titles = table.drop_duplicates("analysis").set_index("analysis")
        wide.columns = [f"{titles.loc[a, 'title']} ({int(titles.loc[a, 'n_studies'])} trials)" for a in order]
        return wide.rename_axis("treatment").reset_index()

    def _ranking_notes(self) -> tuple[str, ...]:
        """Key warnings when a sensitivity analysis changes which treatment ranks first (by SUCRA): under another tau
        prior or fixed effect (sensitivity.csv), or under another network (network_sensitivity.csv)."""
        names = self._meta_labels()
        out = []
        sens = self.checks.sensitivity if self.checks is not None else None
        best = str(self.rank_table.sort_values("sucra", ascending=False)[TREATMENT].iloc[0])
        if sens is not None and len(sens):
            for prior, g in sens.groupby("prior", sort=False):
                if bool(g["analysis"].iloc[0]) or g["sucra"].isna().all():
                    continue
                top = str(g.sort_values("sucra", ascending=False)["treatment"].iloc[0])
                if top != best:
                    out.append(f"Sensitivity: the ranking changes under {prior}: {names.get(top, top)} ranks first "
                               f"(SUCRA), not {names.get(best, best)}; see sensitivity.csv")
        comp = getattr(self.cfg, "companions", None)
        if comp is not None and len(comp):
            for analysis, g in comp.groupby("analysis", sort=False):
                if analysis == self.cfg.name:
                    continue
                top = str(g.sort_values("sucra", ascending=False)["treatment"].iloc[0])
                if top != best:
                    out.append(f"Sensitivity: the ranking changes in the network {analysis}: {names.get(top, top)} "
                               f"ranks first (SUCRA), not {names.get(best, best)}; see network_sensitivity.csv")
        return tuple(out)

    def _headline(self) -> list[dict]:
        """The report's headline rows: each treatment versus the reference (shown scale, 95% CrI), P(better than the
        reference), SUCRA and rank with their 95% CrIs, best effect first."""
        m, lower, ref = self.network.measure, self.spec.lower_is_better, self.network.reference
        names = self._meta_labels()
        rel = self.rel[self.rel["comparator"] == ref].set_index("treatment")
        ranks = self.rank_table.set_index(TREATMENT)
        treatments = list(self.network.treatments)
        p_better = ((self.draws < 0) if lower else (self.draws > 0)).mean(axis=0)
        rows = []
        for i, t in enumerate(treatments):
            if t == ref:
                continue
            med, lo, hi = (float(m.to_shown(float(rel.loc[t, c]))) for c in ("median", "lower", "upper"))
            excl = (hi < m.null) or (lo > m.null) if hasattr(m, "null") else False
            favours = (med < m.null) == lower if hasattr(m, "null") else True
            r = ranks.loc[t]
            rows.append({"id": t, "name": names.get(t, t), "median": float(rel.loc[t, "median"]),
                         "effect": keep_interval(f"{med:.2f} ({lo:.2f} to {hi:.2f})"),
                         "p_better": fmt_prob(float(p_better[i])),
                         "sucra": keep_interval(f"{r['sucra']:.2f} ({r['sucra_lower']:.2f} to {r['sucra_upper']:.2f})"),
                         "rank": keep_interval(f"{int(r['median_rank'])} ({int(r['rank_lower'])} to {int(r['rank_upper'])})"),
                         "cls": (" fav-row" if favours else " fav-col") if excl else ""})
        return sorted(rows, key=lambda r: r["median"] if lower else -r["median"])

    def _question_text(self) -> str:
        """The question in words: population, outcome, comparator by name."""
        data = self.cfg.raw.get("data", {})
        m = self.network.measure
        names = self._meta_labels()
        ref = names.get(self.network.reference, self.network.reference)
        setting = str(data.get("setting", "")).replace("_", " ")
        outcome = {"os": "overall survival", "pfs": "progression-free survival", "pcr": "pathological complete response",
                   "ifs": "invasive disease-free survival"}.get(str(data.get("outcome", "")).lower(),
                                                                  str(data.get("outcome", "")).replace("_", " "))
        others = [names.get(t, t) for t in self.network.treatments if t != self.network.reference]
        verb = "do" if len(others) > 1 else "does"
        others = ", ".join(others[:-1]) + f" and {others[-1]}" if len(others) > 1 else "".join(others)
        population = str(data.get("population", "itt"))
        population = {"itt": "intention-to-treat"}.get(population.lower(), population.replace("_", " "))
        who = f" in {setting} ({population} population)" if setting else ""
        what = f" on {outcome}" if outcome else ""
        definition = str(data.get("outcome_definition") or "").replace("_", " ")   # independent_review: words
        return (f"How {verb} {others} compare with {ref}{what}{who}? "
                f"Effects are {m.name}s ({m.code}) versus {ref}, from {len(self.network.studies)} "
                f"trial{'s' if len(self.network.studies) != 1 else ''}"
                + (f"; outcome definition: {definition}." if definition else "."))

    def _evidence_summary(self) -> pd.DataFrame:
        """One row per non-reference arm of each trial: trial, comparison by name, the effect and 95% CI as published
        (the ratio and CI when the table has them, else recomputed from the log-ratio and its SE), source."""
        from scipy.stats import norm

        m = self.network.measure
        names = self._meta_labels()
        c = self.network.contrasts
        z = norm.ppf(0.975)
        rows = []
        for study, g in c.groupby("study", sort=False):
            base = g[g["y"].isna()]["treatment"] if "y" in g else g["treatment"].iloc[:1]
            ref = str(base.iloc[0]) if len(base) else ""
            for r in g[g["y"].notna()].to_dict("records") if "y" in g else []:
                code = m.code.lower()
                if code in r and pd.notna(r.get(code)) and "ci_lower" in r and pd.notna(r.get("ci_lower")):
                    est = f"{float(r[code]):.2f} ({float(r['ci_lower']):.2f} to {float(r['ci_upper']):.2f})"
                else:
                    y, se = float(r["y"]), float(r["se"])
                    est = "{:.2f} ({:.2f} to {:.2f})".format(*(float(m.to_shown(v)) for v in (y, y - z * se, y + z * se)))
                rows.append({"trial": str(r.get("trial", study)),
                             "comparison": f"{names.get(str(r['treatment']), r['treatment'])} vs {names.get(ref, ref)}",
                             f"{m.code} (95% CI)": est, "patients": (int(g["n"].sum()) if "n" in g and g["n"].notna().all()
                                                                     else ""),
                             "source": str(r.get("source_id", "") or "")})
        return pd.DataFrame(rows)

    def _report(self, path: Path, long, matrix, text: str, images: dict[str, Path],
                extra_sections: list | None = None) -> None:
        data = self.cfg.raw.get("data", {})
        m = self.network.measure
        names = self._meta_labels()
        ratio_cols = (m.code.lower(), "ratio", "ci_lower", "ci_upper", "ci_level", "p_value", "events")   # as printed
        cols = [c for c in ("study", "treatment", "r", "y", "se", "n", *ratio_cols, "analysis", "data_cut", "population",
                            "outcome_definition", "source_id", "location", "responders_derivation") if c in self.network.contrasts]
        ev = self.network.contrasts[cols].copy()
        if "y" in ev and m.is_ratio and m.code.lower() not in ev and "ratio" not in ev:   # not twice beside the printed hr
            ev.insert(3, f"{m.code} vs study reference", m.to_shown(ev["y"]))
        elif "y" in ev:
            ev = ev.rename(columns={"y": f"y ({m.code} vs study reference)"})
        ref_name = names.get(self.network.reference, self.network.reference)
        pred = "; the grey line is the 95% predictive interval for a new trial" if "pred_lower" in self.rel else ""
        fmt = {"ref": ref_name, "m": m.code, "pred": pred}
        captions = {k: CAPTIONS.get(k, k).format(**fmt) for k in images}
        for k in images:
            if k.startswith("forest versus "):
                captions[k] = CAPTIONS["forest"].format(ref=k.removeprefix("forest versus "), m=m.code, pred=pred)
        check_images = [k for k in ("node-splitting", "dev-dev (consistency vs UME)", "heterogeneity prior sensitivity")
                        if k in images]
        placed = {"network", "forest", "rankogram", "cumulative rankogram", "league heatmap", "tau prior and posterior",
                  "trace", "rank plot", *check_images}
        extra_sections = [replace(s, html=named_html(s.html, names)) for s in extra_sections or []]
        ranked = [replace(w, text=shown_warning(w.text)) for w in rank_warnings(
            [named(n, names) for n in (*self.notes, *self._ranking_notes(), *(n for s in extra_sections for n in s.notes))])]
        ranks = self.rank_table.sort_values("sucra", ascending=False)
        ranks = ranks[[c for c in ranks.columns if not c.startswith("p_rank_")]]
        engine = ("exact (quadrature over tau; no MCMC)" if self.engine == "exact" else self.engine)
        lower_text = ("lower is better" if self.spec.lower_is_better else "higher is better")
        context = {
            "title": self.cfg.title, "description": self.cfg.raw.get("description", ""),
            "question_text": self._question_text(), "headline": self._headline(), "reference_name": ref_name,
            "direction_text": f"For this outcome an {m.code} {'below' if self.spec.lower_is_better else 'above'} "
                              f"{getattr(m, 'null', 1):g} favours the treatment ({lower_text}).",
            "captions": captions, "check_images": check_images,
            "other_images": [k for k in images if k not in placed and not k.startswith("forest versus ")]
                            + [k for k in images if k.startswith("forest versus ")],
            "key_warnings": [w for w in ranked if w.severity == "key"], "warnings": list(ranked),
            "reference": ref_name, "measure": m.code, "measure_name": m.name, "names": names,
            "evidence_note": self._evidence_note(), "evidence_summary": self._evidence_summary(),
            "network_text": named(self.network.summary().splitlines()[0], names),
            "inconsistency_factor": ("direct / indirect on the ratio scale" if m.is_ratio else
                                     f"direct minus indirect, as a {m.name}"),
            "treatment_labels": self._treatment_labels(), "evidence_table": ev,
            "selection": [named(line, names) for line in self.selection_log], "sources": self.sources.to_dict("records"),
            "network_summary": named(self.network.summary(), names), "priors": named(self.spec.describe(), names),
            "engine_text": engine, "seed": self.run_info["seed"], "diagnostics": self.diag, "divergences": self.divergences,
            "league_caption": text,
            "league_html": league_html(matrix, long, self.spec.lower_is_better, self.cfg.league_upper == "direct", names),
            "absolute": self.absolute_effects(),
            "ranks_table": ranks, "heterogeneity": self.het, "fit": self.fit, "converged": self.converged,
            "version": __version__, "input_hash": self.run_info["input_hash"],
            "nodes": named(self.cfg.selection.nodes.describe(), names) if self.cfg.selection is not None else "",
            "characteristics": characteristics_html(*chars) if (chars := self.characteristics()) is not None else None,
            **self._check_tables(),
            "companions": self._companions(),
            # every abbreviation except the effect measures this run does not use (an MD report never says "hazard ratio")
            "abbreviations": [{"short": k, "name": v} for k, v in ABBREVIATIONS.items()
                              if k not in ("HR", "OR", "RR", "MD") or k == self.network.measure.code],
        }
        context["extra_sections"] = extra_sections
        for s in extra_sections:
            images = {**images, **s.figures}
            captions.update(s.captions)
        path.write_text(render_report(context, images), encoding="utf-8")
