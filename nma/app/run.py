"""`nma run`: a thin layer over the package API, in stages with typed inputs and outputs.

load config -> assemble the network -> validate the config against the network (before any fitting) -> fit
(nma.fit) -> summaries and checks -> write (Fit.save: atomic, with provenance) -> the outputs index.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from nma.analysis.fit import Fit, fit
from nma.analysis.provenance import sha256
from nma.analysis.save import Provenance, ReportOptions
from nma.app.assemble import Assembled, analysis_network
from nma.app.companions import companion_configs, network_sensitivity
from nma.app.config import AnalysisConfig, load_config
from nma.app.extensions import fit_extensions, resolve_extensions
from nma.app.validate import check_engine, validate_config
from nma.constants import CI_PROB
from nma.models.families import family_of
from nma.models.spec import ModelSpec
from nma.reporting.deliverables import treatment_names
from nma.reporting.report import named


#: Set by `make all`, which runs analyses side by side and rebuilds outputs/index.html once, last.
NO_INDEX_ENV = "NMA_NO_INDEX"


@dataclass(frozen=True)
class RunResult:
    outdir: Path
    message: str
    converged: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything decided before fitting: the config, its network, the model spec, and the warnings raised so far."""

    cfg: AnalysisConfig
    assembled: Assembled
    spec: ModelSpec
    notes: tuple[str, ...]


def run_config(config_path: str | Path, out: str | Path | None = None, engine: str | None = None) -> RunResult:
    """Run one analysis config; the returned message summarises the network, priors and results."""
    t0 = time.perf_counter()
    cfg = load_config(config_path)
    outdir = Path(out) if out is not None else Path("outputs") / cfg.name
    return _run(cfg, engine or cfg.engine, outdir, t0)


def run_analysis(cfg: AnalysisConfig, out: str | Path | None = None, engine: str | None = None) -> RunResult:
    """Run one loaded config (e.g. a [[picos]] expansion) into `out` (default outputs/<cfg.name>)."""
    outdir = Path(out) if out is not None else Path("outputs") / cfg.name
    return _run(cfg, engine or cfg.engine, outdir, time.perf_counter())


def prepare(cfg: AnalysisConfig, engine: str) -> Prepared:
    """Assemble the network and the spec, and validate every config key against the network: all before fitting."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assembled = analysis_network(cfg)
        family = family_of(assembled.network)
        spec = ModelSpec.from_config(cfg.model, measure=assembled.network.measure.code,
                                     lower_is_better_default=family.lower_is_better_default)
    validate_config(cfg, assembled.network)
    check_engine(cfg, engine, assembled.network)
    return Prepared(cfg, assembled, spec, tuple(f"{w.category.__name__}: {w.message}" for w in record))


def fit_config(prepared: Prepared, engine: str) -> Fit:
    """The fit a config asks for, through the public API; warnings are recorded on the Fit, not printed here."""
    cfg = prepared.cfg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit(prepared.assembled.network, spec=prepared.spec, sampler=cfg.sampler, engine=engine,
                     allow_unconverged=cfg.allow_unconverged)
    return replace(fitted, nodesplit=cfg.nodesplit, run_checks=cfg.checks)


def provenance(cfg: AnalysisConfig, prepared: Prepared) -> Provenance:
    a = prepared.assembled
    return Provenance(config_path=str(cfg.path.resolve()), config_sha256=sha256(cfg.path), config=cfg.raw,
                      inputs=input_hashes(cfg), selection_log=tuple(a.log), sources=a.sources, treatments=a.treatments,
                      notes=prepared.notes)


def report_options(cfg: AnalysisConfig, companions=None, extensions=()) -> ReportOptions:
    return ReportOptions(companions=companions, extensions=extensions, name=cfg.name, title=cfg.title, raw=cfg.raw, path=cfg.path, league_order=cfg.league_order,
                         league_upper=cfg.league_upper, mid=cfg.mid, forest_comparators=cfg.forest_comparators,
                         reference_median_months=cfg.reference_median_months, evidence_dir=cfg.evidence_dir,
                         selection=cfg.selection)


def _run(cfg: AnalysisConfig, engine: str, outdir: Path, t0: float) -> RunResult:
    prepared = prepare(cfg, engine)
    companions = network_sensitivity(cfg, prepared.assembled.network, cfg.sampler.seed, cfg.sampler.draws)
    timings = {"load": time.perf_counter() - t0}
    t1 = time.perf_counter()
    fitted = fit_config(prepared, engine)
    timings["fit"] = time.perf_counter() - t1
    for summary in (fitted.relative_effects, fitted.ranks, fitted.model_fit):   # computed now (cached) to time them
        summary()
    fitted.fixed
    timings["summaries"] = time.perf_counter() - t1 - timings["fit"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted.checks()
    timings["checks"] = time.perf_counter() - t1 - timings["fit"] - timings["summaries"]
    if cfg.cross_check:
        t2 = time.perf_counter()
        _, agreement = fitted.cross_check()
        prepared = replace(prepared, notes=(*prepared.notes, *agreement))
        timings["cross_check"] = time.perf_counter() - t2
    t3 = time.perf_counter()   # meta-regression / class effects beside the main (unadjusted) fit, exact engine
    extensions = fit_extensions(resolve_extensions(cfg, prepared.assembled.network), fitted.network, fitted.spec)
    if extensions:
        timings["extensions"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    fitted.save(outdir, report_options(cfg, companions, extensions), provenance(cfg, prepared), timings)
    if outdir.parent.name == "outputs" and not os.environ.get(NO_INDEX_ENV):
        from nma.app.manifest import write_manifest
        from nma.reporting.report import write_index

        write_index(outdir.parent)
        write_manifest(outdir.parent)
    names = treatment_names(prepared.assembled.treatments, fitted.network)
    notes = tuple(named(n, names) for n in (*prepared.notes, *map(str, fitted.warnings)))
    return RunResult(outdir, summary_message(prepared, fitted, outdir, timings["total"]), fitted.converged, notes)


def summary_message(prepared: Prepared, fitted: Fit, outdir: Path, seconds: float) -> str:
    """What `nma run` prints: the network, priors and selection, the effects versus the reference (best first) and
    the ranking (best SUCRA first), every treatment by its name."""
    network, spec, m = fitted.network, fitted.spec, fitted.measure
    names = treatment_names(prepared.assembled.treatments, network)
    name = lambda t: names.get(str(t), str(t))  # noqa: E731
    rel = fitted.relative_effects(network.reference)
    rel = rel[rel["treatment"] != network.reference].sort_values("median", ascending=spec.lower_is_better)
    lines = [named(network.summary(), names), "", named(spec.describe(), names), "",
             *[f"selection: {named(line, names)}" for line in prepared.assembled.log], "",
             f"Relative effects versus {name(network.reference)} ({m.code}, median and {CI_PROB:.0%} CrI), best first:"]
    for _, r in rel.iterrows():
        lo, med, hi = (m.to_shown(r[c]) for c in ("lower", "median", "upper"))
        lines.append(f"  {name(r['treatment'])}: {med:.2f} ({lo:.2f} to {hi:.2f})")
    ranks = fitted.ranks().sort_values("sucra", ascending=False)
    lines.append("Ranking (SUCRA with 95% CrI; mean rank), best first:")
    for i, r in enumerate(ranks.itertuples(index=False), start=1):
        lines.append(f"  {i}. {name(r.treatment)}: SUCRA {r.sucra:.2f} ({r.sucra_lower:.2f} to {r.sucra_upper:.2f}); "
                     f"mean rank {r.mean_rank:.1f}")
    het = fitted.heterogeneity()
    if het is not None:
        lines.append(f"tau: median {het['median'].iloc[0]:.3f} ({het['lower'].iloc[0]:.3f} to {het['upper'].iloc[0]:.3f})")
    lines.append(f"{'UNCONVERGED results' if not fitted.converged else 'Results'} written to {outdir}/ in {seconds:.1f} s")
    return "\n".join(lines)


def input_files(cfg: AnalysisConfig) -> list[Path]:
    """The files an analysis reads: its own CSVs ([data] ratios / contrasts / arms / treatments), or data/'s three."""
    own = [cfg.arms_path, cfg.contrasts_path, cfg.ratios_path, cfg.treatments_path]
    if any(p is not None for p in own[:3]):
        return [p for p in own if p is not None] + companion_configs(cfg)
    return [cfg.evidence_dir / f for f in ("treatments.csv", "sources.csv", "evidence.csv")] + companion_configs(cfg)


def input_hashes(cfg: AnalysisConfig) -> dict[str, str]:
    return {str(p): sha256(p) for p in input_files(cfg)}
