"""What HTA analysts and committees take away: league tables, rankings, draws, figures and the report.

Written into the run's temporary folder, so they appear only when the whole run succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from nma.reporting import league, plots
from nma.reporting.report import (
    characteristics_html,
    league_html,
    render_league,
    render_report,
)


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
    idata: object
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

            direct_rel = direct_estimates(self.network, self.spec, probs_for(CI_PROB))
            direct_rel.to_csv(folder / "direct_effects.csv", index=False, lineterminator="\n")
            direct = league.shown_scale(direct_rel, measure)
        matrix = league.league_matrix(long, self.order, direct=direct)
        text = league.caption(measure, lower, direct_upper=direct_upper)
        footnotes = [f"Model: {self.spec.effects} effects; {self.spec.describe().splitlines()[1]}",
                     f"Analysis {self.cfg.name}; nma {__version__}; input hash {self.run_info['input_hash'][:12]}; "
                     f"seed {self.run_info['seed']}."]
        if not self.converged:
            footnotes.insert(0, "UNCONVERGED: these results failed the convergence gate.")
        league.write_csv(long, matrix, folder)
        league.write_xlsx(long, matrix, folder / "league_table.xlsx", text, footnotes, lower, direct_upper)
        (folder / "league_table.md").write_text(league.to_markdown(matrix, text), encoding="utf-8")
        lhtml = league_html(matrix, long, lower, direct_upper)  # shading reads the measure's null from `long`
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
        images = self._figures(folder / "figures", long)
        self._report(folder / "report.html", long, matrix, text, images)

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
        post = self.idata["posterior"]
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
                                                   labels=labels), folder / "forest")}
        for comp in self.cfg.forest_comparators:   # checked against the network before fitting (nma/app/validate.py)
            if comp != self.network.reference:
                images[f"forest versus {comp}"] = save(plots.forest_plot(self.rel, comp, measure, labels=labels),
                                                       folder / f"forest_vs_{comp}")
        images["rankogram"] = save(plots.rankogram(self.rank_table), folder / "rankogram")
        images["cumulative rankogram"] = save(plots.rankogram(self.rank_table, cumulative=True),
                                              folder / "rankogram_cumulative")
        images["league heatmap"] = save(plots.league_heatmap(long, self.order, measure), folder / "league_heatmap")
        if self.tau_draws is not None:
            images["tau prior and posterior"] = save(plots.tau_plot(self.tau_draws, self.spec.tau_prior, measure),
                                                     folder / "tau")
        if self.checks is not None:
            images.update(plots.check_figures(self.checks, folder, labels))
        if self.engine == "mcmc":
            names = ["d"] + (["tau"] if self.tau_draws is not None else [])
            images["trace"] = save(plots.trace_plot(self.idata, names), folder / "trace")
            images["rank plot"] = save(plots.rank_plot(self.idata, names), folder / "rank")
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
                **{f"{m.code} / ratio median" if m.is_ratio else f"{m.code} median": shown["median"],
                   "lower": shown["lower"], "upper": shown["upper"]},
                p_value=split["p_value"], direct_studies=split["direct_studies"])
        sens = self.checks.sensitivity
        if sens is not None:
            sens = sens.drop(columns=["comparator"])
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
        """Treatment id -> label from treatments_meta (data/treatments.csv or the config's labels); it may name treatments
        of the sensitivity networks too."""
        meta = self.treatments_meta
        return dict(zip(meta["id"], meta["label"])) if len(meta) else {}

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

    def _report(self, path: Path, long, matrix, text: str, images: dict[str, Path]) -> None:
        data = self.cfg.raw.get("data", {})
        m = self.network.measure
        ratio_cols = (m.code.lower(), "ratio", "ci_lower", "ci_upper", "ci_level", "p_value", "events")   # as printed
        cols = [c for c in ("study", "treatment", "r", "y", "se", "n", *ratio_cols, "analysis", "data_cut", "population",
                            "outcome_definition", "source_id", "location", "responders_derivation") if c in self.network.contrasts]
        ev = self.network.contrasts[cols].copy()
        if "y" in ev and m.is_ratio and m.code.lower() not in ev and "ratio" not in ev:   # not twice beside the printed hr
            ev.insert(3, f"{m.code} vs study reference", m.to_shown(ev["y"]))
        elif "y" in ev:
            ev = ev.rename(columns={"y": f"y ({m.code} vs study reference)"})
        context = {
            "title": self.cfg.title, "description": self.cfg.raw.get("description", ""),
            "question": {"setting": data.get("setting", "(contrast file)"), "outcome": data.get("outcome", ""),
                         "population": data.get("population", "itt" if "setting" in data else ""),
                         "definition": data.get("outcome_definition", "as reported")},
            "reference": self.network.reference, "measure": m.code, "measure_name": m.name,
            "evidence_note": self._evidence_note(),
            "inconsistency_factor": ("direct / indirect on the ratio scale" if m.is_ratio else
                                     f"direct minus indirect, as a {m.name}"),
            "treatment_labels": self._treatment_labels(), "warnings": list(self.notes), "evidence_table": ev,
            "selection": list(self.selection_log), "sources": self.sources.to_dict("records"),
            "network_summary": self.network.summary(), "priors": self.spec.describe(), "engine": self.engine,
            "seed": self.run_info["seed"], "diagnostics": self.diag, "divergences": self.divergences,
            "league_caption": text,
            "league_html": league_html(matrix, long, self.spec.lower_is_better, self.cfg.league_upper == "direct"),
            "absolute": self.absolute_effects(),
            "ranks_table": self.rank_table, "heterogeneity": self.het, "fit": self.fit, "converged": self.converged,
            "version": __version__, "input_hash": self.run_info["input_hash"],
            "nodes": self.cfg.selection.nodes.describe() if self.cfg.selection is not None else "",
            "characteristics": characteristics_html(*chars) if (chars := self.characteristics()) is not None else None,
            **self._check_tables(),
            "companions": self._companions(),
        }
        path.write_text(render_report(context, images), encoding="utf-8")

