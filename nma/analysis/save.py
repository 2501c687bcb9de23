"""`Fit.save`: every file of an analysis folder, from a Fit, written all-or-nothing (nma.analysis.publish).

`nma run` calls this with the config's report options and provenance; a notebook user calls `fit.save(path)` and
gets the same files, with the fit's own arguments as the recorded config and a hash of the network's data as its input.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nma.constants import __version__
from nma.analysis.provenance import combined_hash, dependency_lock, dependency_versions, package_hash
from nma.analysis.publish import write_outputs

NO_SOURCES = pd.DataFrame(columns=["source_id", "citation", "url", "doi"])
NO_TREATMENTS = pd.DataFrame(columns=["id", "label", "dual_blockade"])


@dataclass(frozen=True)
class ReportOptions:
    """What the deliverables need beyond the fit: the title and the presentation choices (the config's [model] keys)."""

    name: str = "analysis"
    title: str = "Network meta-analysis"
    raw: dict = field(default_factory=dict)          # the config as written (description, [data] setting/outcome)
    path: Path = Path("<python>")
    league_order: tuple[str, ...] | None = None
    league_upper: str = "network"
    mid: float | None = None
    forest_comparators: tuple[str, ...] = ()
    reference_median_months: float | None = None
    evidence_dir: Path | None = None
    selection: object = None
    companions: pd.DataFrame | None = None           # rankings under other networks (network_sensitivity.csv)
    extensions: tuple = ()                           # fitted [model.regression] / [model.classes], for their sections


@dataclass(frozen=True)
class Provenance:
    """Where the inputs came from: recorded in run.json and the report."""

    config_path: str = "<python>"
    config_sha256: str = ""
    config: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)       # path (or "<network>") -> SHA-256
    selection_log: tuple[str, ...] = ()
    sources: pd.DataFrame = field(default_factory=lambda: NO_SOURCES)
    treatments: pd.DataFrame = field(default_factory=lambda: NO_TREATMENTS)
    notes: tuple[str, ...] = ()                      # warnings raised before fitting (selection, priors left at default)


def check_options(options: ReportOptions, network) -> None:
    """Treatment names in the report options exist in the network, before anything is written (the CLI has already
    checked its config keys the same way; this guards options built in Python)."""
    from nma.core.tables import closest
    from nma.errors import NetworkDataError

    known = tuple(network.treatments)
    for name, values in (("league_order", options.league_order or ()), ("forest_comparators", options.forest_comparators)):
        for v in values:
            if v not in known:
                raise NetworkDataError(f"ReportOptions({name}=...) names {v!r}, which is not a treatment of the network; "
                                       f"{closest(str(v), known)}. Treatments: {', '.join(map(str, known))}")
    if options.league_order is not None and sorted(options.league_order) != sorted(known):
        raise NetworkDataError(f"ReportOptions(league_order=...) must list every treatment once (the league table is "
                               f"square): {', '.join(map(str, known))}")


def data_hash(network) -> str:
    """SHA-256 of the network's data table as CSV: the input hash of a network built in Python."""
    return hashlib.sha256(network.contrasts.to_csv(index=False, lineterminator="\n").encode()).hexdigest()


def python_provenance(fit, arguments: dict | None = None) -> Provenance:
    config = arguments or {"effects": fit.spec.effects, "tau_prior": fit.spec.tau_prior.text if fit.spec.effects == "random" else None,
                           "d_prior_sd": fit.spec.d_prior_sd, "lower_is_better": fit.spec.lower_is_better,
                           "engine": fit.engine, "seed": fit.settings.seed, "measure": fit.measure.code}
    return Provenance(config=config, inputs={"<network>": data_hash(fit.network)})


def save_fit(fit, outdir: str | Path, options: ReportOptions | None = None, provenance: Provenance | None = None,
             timings: dict | None = None) -> Path:
    """Write every output of `fit` into `outdir` (replaced as a whole, atomically). Returns the folder."""
    from nma.reporting.deliverables import Deliverables

    outdir = Path(outdir)
    options = options or ReportOptions(name=outdir.name, title=outdir.name)
    check_options(options, fit.network)
    provenance = provenance or python_provenance(fit)
    checks = fit.checks()
    post, spec, network = fit.posterior, fit.spec, fit.network
    sampler = fit.settings.sampler
    notes = [*provenance.notes, *map(str, fit.warnings)]
    rel, rank_table, het, fit_csv = fit.relative_effects(), fit.ranks(), fit.heterogeneity(), fit.model_fit()
    fixed = fit.fixed.relative_effects() if fit.fixed is not None else None
    run_info = {
        "nma_version": __version__,
        "title": options.title,
        "config_path": provenance.config_path,
        "config_sha256": provenance.config_sha256,
        "config": provenance.config,
        "inputs": provenance.inputs,
        "input_hash": combined_hash(provenance.inputs),
        "seed": sampler.seed,
        "engine": fit.engine,
        "spec": spec.as_dict(),
        "priors": spec.describe(),
        "sampler": sampler.as_dict() if fit.engine == "mcmc" else {"seed": sampler.seed, "draws": sampler.chains * sampler.draws},
        "converged": fit.converged,
        "divergences": post.divergences,
        "network": {"studies": list(map(str, network.studies)), "treatments": list(map(str, network.treatments)),
                    "reference": str(network.reference)},
        "selection_log": list(provenance.selection_log),
        "warnings": notes,
        "dependencies": dependency_versions(),
        "lock": dependency_lock(),
        "package_sha256": package_hash(),
        "python": sys.version.split()[0],
    }
    groups = fit._groups   # xarray Datasets by group: no ArviZ import on the exact engine
    groups["posterior"].attrs.update(nma_version=__version__, nma_config=json.dumps(provenance.config, sort_keys=True),
                                    nma_seed=sampler.seed, nma_input_hash=run_info["input_hash"], nma_engine=fit.engine,
                                    nma_converged=int(fit.converged))
    run_info["fit"] = fit._model_fit[1]
    tables = {"relative_effects.csv": rel, "ranks.csv": rank_table, "contrasts.csv": network.contrasts, "fit.csv": fit_csv}
    tables.update(checks.tables)
    if het is not None:
        tables["heterogeneity.csv"] = het
    if post.diagnostics is not None:
        tables["diagnostics.csv"] = post.diagnostics.assign(divergences=post.divergences)
    if fixed is not None:
        tables["relative_effects_fixed.csv"] = fixed
    if options.companions is not None:
        tables["network_sensitivity.csv"] = options.companions
    if not fit.converged:
        tables = {k: v.assign(unconverged=True) for k, v in tables.items()}
    if timings is not None:
        run_info["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    extra = Deliverables(cfg=options, network=network, spec=spec, rel=rel, rank_table=rank_table, het=het, fixed=fixed,
                         draws=post.all_treatment_draws(), tau_draws=post.flat_tau(), groups=groups, diag=post.diagnostics,
                         divergences=post.divergences, notes=tuple(notes), selection_log=tuple(provenance.selection_log),
                         sources=provenance.sources, treatments_meta=provenance.treatments, converged=fit.converged,
                         run_info=run_info, engine=fit.engine, fit=fit_csv, checks=checks,
                         posterior=post)
    write_outputs(outdir, tables, groups, run_info, notes, extra=extra.write)
    return outdir
