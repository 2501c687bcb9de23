"""`nma run`: config -> evidence -> network -> fit -> summaries -> outputs, written all-or-nothing.

Outputs are built in a temporary folder beside the destination and renamed into place only when every
step succeeded, so a failed or interrupted run leaves the previous results untouched.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nma import __version__
from nma.app.assemble import analysis_network
from nma.app.config import AnalysisConfig, check_engine, load_config
from nma.app.provenance import (
    combined_hash,
    dependency_lock,
    dependency_versions,
    input_hashes,
    package_hash,
    sha256,
)
from nma.app.publish import write_outputs
from nma.constants import CI_PROB, STUDY, TREATMENT
from nma.core.network import Network
from nma.errors import ConvergenceError, ModelWarning
from nma.models.exact import exact_relative_effects, fit_exact
from nma.models.spec import ModelSpec
from nma.posterior.summaries import (
    add_ratio_scale,
    probs_for,
    ranks,
    relative_effects,
    scalar_summary,
)


@dataclass(frozen=True)
class RunResult:
    outdir: Path
    message: str
    converged: bool
    warnings: tuple[str, ...] = ()


def tau_identified(network: Network) -> bool:
    """tau needs at least one comparison made by two or more trials (the rule lives in nma/sensitivity.py)."""
    from nma.checks.sensitivity import tau_not_identified

    return tau_not_identified(network) is None


def run_config(config_path: str | Path, out: str | Path | None = None, engine: str | None = None) -> RunResult:
    """Run one analysis config; the returned message summarises the network, priors and results."""
    t0 = time.perf_counter()
    cfg = load_config(config_path)
    outdir = Path(out) if out is not None else Path("outputs") / cfg.name
    return _run(cfg, engine or cfg.engine, outdir, t0)


def _run(cfg: AnalysisConfig, engine: str, outdir: Path, t0: float) -> RunResult:
    timings = {}
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assembled = analysis_network(cfg)
        network, log, sources, treatments_meta = (assembled.network, assembled.log, assembled.sources,
                                                  assembled.treatments)
        spec = ModelSpec.from_config(cfg.model, binary=cfg.binary)
        if spec.effects == "random" and not tau_identified(network):
            warnings.warn("tau is not identified by the data: no comparison has more than one trial, so its posterior is "
                          "its prior and the random-effects intervals reflect that prior. The fixed-effect result is "
                          "written beside it (relative_effects_fixed.csv).", ModelWarning, stacklevel=2)
    notes += [f"{w.category.__name__}: {w.message}" for w in record]
    timings["load"] = time.perf_counter() - t0

    probs = probs_for(CI_PROB)
    sampler = cfg.sampler
    n_draws = sampler.chains * sampler.draws
    converged = True
    diag_table = None
    divergences = 0
    t1 = time.perf_counter()
    check_engine(cfg, engine)  # --engine exact on binomial data
    if engine == "exact":
        post = fit_exact(network, spec)
        rel = exact_relative_effects(post, probs)
        d_draws, tau_draws = post.sample(n_draws, np.random.default_rng(sampler.seed))
        if spec.effects == "fixed":
            tau_draws = None
        het = None
        if tau_draws is not None:
            s = post.tau_summary(probs)
            het = pd.DataFrame([{"parameter": "tau", "mean": s["mean"], "sd": s["sd"], "lower": s[probs[0]],
                                 "median": s[probs[1]], "upper": s[probs[2]]}])
        idata = _idata_from_draws(network, d_draws, tau_draws, sampler.chains)
        timings["fit"] = time.perf_counter() - t1
    else:
        from nma.models.normal_pymc import build_model
        from nma.models.sampler import diagnostics, gate, sample

        if cfg.binary:
            from nma.models.binomial_pymc import build_binomial_model as build_model
        model = build_model(network, spec)
        idata = sample(model, sampler)
        timings["fit"] = time.perf_counter() - t1
        names = ["d"] + (["tau"] if spec.effects == "random" else [])
        diag_table, divergences = diagnostics(idata, names)
        problems = gate(diag_table, divergences)
        if problems:
            hint = ""
            if spec.effects == "random" and spec.tau_prior.kind == "half-cauchy":
                hint = (" A half-Cauchy tau prior has a heavy tail that NUTS cannot explore in a sparse network; "
                        "try tau_prior = \"half-normal(0.5)\" or an informative log-normal preset.")
            message = ("the fit failed the convergence gate (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences): "
                       + "; ".join(problems) + "." + hint + "\n" + diag_table.to_string(index=False))
            if not cfg.allow_unconverged:
                raise ConvergenceError(message + "\nNo results were written. Fix: increase [sampler] draws/tune, or "
                                       "change the prior; [model] allow_unconverged = true writes results stamped unconverged.")
            converged = False
            notes.append("UNCONVERGED: " + message.splitlines()[0])
        post_d = idata["posterior"]["d"]
        d_draws = post_d.stack(sample=("chain", "draw")).transpose("sample", TREATMENT).to_numpy()
        tau_draws = (idata["posterior"]["tau"].stack(sample=("chain", "draw")).to_numpy()
                     if spec.effects == "random" else None)
        het = scalar_summary(tau_draws, "tau") if tau_draws is not None else None

    all_draws = np.column_stack([np.zeros(len(d_draws)), d_draws])  # reference column (d = 0) first
    if engine != "exact":
        rel = relative_effects(all_draws, network.treatments, tau=tau_draws, seed=sampler.seed)
    rank_table = ranks(all_draws, network.treatments, spec.lower_is_better)
    rel = add_ratio_scale(rel)
    from nma.models.fitstats import loo_summary
    from nma.models.normal import model_fit

    if cfg.binary:
        from nma.models.binomial import fit_summaries

        ll, fit_table, fit_totals = fit_summaries(network, idata, all_draws, tau_draws)
    else:
        ll, (fit_table, fit_totals) = None, model_fit(network, d_draws, tau_draws)
    _add_log_likelihood(idata, network, d_draws, tau_draws, sampler.chains, ll)
    try:
        with warnings.catch_warnings(record=True) as loo_warnings:
            warnings.simplefilter("always")
            loo = loo_summary(idata)
        if loo["n_pareto_k_above_0.7"]:
            notes.append(f"PSIS-LOO: {loo['n_pareto_k_above_0.7']} stud(ies) with Pareto k > 0.7 (max "
                         f"{loo['max_pareto_k']:.2f}); LOO is unreliable for them (see fit.csv)")
        del loo_warnings
        fit_table["pareto_k"] = loo.pop("pareto_k")
        fit_totals.update(loo)
    except Exception as err:  # LOO is a diagnostic; its failure must not hide the fit
        notes.append(f"PSIS-LOO could not be computed: {err}")
    total_row = {"study": "TOTAL", **{("leverage" if k == "pD" else "dic" if k == "DIC" else k): v for k, v in fit_totals.items()}}
    fit_csv = pd.concat([fit_table, pd.DataFrame([total_row])], ignore_index=True)  # TOTAL: leverage = pD, dic = DIC
    fixed_beside = fixed_draws = None
    if spec.effects == "random" and not tau_identified(network) and cfg.binary:
        from nma.checks.binomial_checks import fixed_effect_draws

        fixed_draws, more = fixed_effect_draws(network, spec, sampler)   # gated, like every fit that is reported
        notes += more
        if fixed_draws is not None:
            fixed_beside = add_ratio_scale(relative_effects(fixed_draws, network.treatments, seed=sampler.seed))
    elif spec.effects == "random" and not tau_identified(network):
        fe = fit_exact(network, ModelSpec(effects="fixed", d_prior_sd=spec.d_prior_sd, lower_is_better=spec.lower_is_better))
        fixed_beside = add_ratio_scale(exact_relative_effects(fe, probs))
    timings["summaries"] = time.perf_counter() - t1 - timings["fit"]
    from nma.checks.model_checks import model_checks

    checks = None
    if cfg.binary:   # no exact engine for binomial data: the checks refit by MCMC (nma/binomial_checks.py)
        from nma.checks.binomial_checks import binomial_model_checks

        checks = binomial_model_checks(network, spec, sampler, all_draws, tau_draws, fit_csv, nodesplit=cfg.nodesplit,
                                       fixed_draws=fixed_draws)
        notes += checks.notes
    else:
        checks = model_checks(network, spec, seed=sampler.seed, n_draws=n_draws, nodesplit=cfg.nodesplit)   # exact engine: node-split, UME, priors
        notes += checks.notes

    timings["checks"] = time.perf_counter() - t1 - timings["fit"] - timings["summaries"]
    hashes = input_hashes(cfg)
    run_info = {
        "nma_version": __version__,
        "title": cfg.title,
        "config_path": str(cfg.path.resolve()),
        "config_sha256": sha256(cfg.path),
        "config": cfg.raw,
        "inputs": hashes,
        "input_hash": combined_hash(hashes),
        "seed": sampler.seed,
        "engine": engine,
        "spec": spec.as_dict(),
        "priors": spec.describe(),
        "sampler": sampler.as_dict() if engine == "mcmc" else {"seed": sampler.seed, "draws": n_draws},
        "converged": converged,
        "divergences": divergences,
        "network": {"studies": list(map(str, network.studies)), "treatments": list(map(str, network.treatments)),
                    "reference": str(network.reference)},
        "selection_log": list(log),
        "warnings": notes,
        "dependencies": dependency_versions(),
        "lock": dependency_lock(),
        "package_sha256": package_hash(),
        "python": sys.version.split()[0],
    }
    idata["posterior"].attrs.update(nma_version=__version__, nma_config=json.dumps(cfg.raw, sort_keys=True),
                                    nma_seed=sampler.seed, nma_input_hash=run_info["input_hash"], nma_engine=engine,
                                    nma_converged=int(converged))
    run_info["fit"] = fit_totals
    tables = {"relative_effects.csv": rel, "ranks.csv": rank_table, "contrasts.csv": network.contrasts, "fit.csv": fit_csv}
    tables.update(checks.tables if checks is not None else {})
    if het is not None:
        tables["heterogeneity.csv"] = het
    if diag_table is not None:
        tables["diagnostics.csv"] = diag_table.assign(divergences=divergences)
    if fixed_beside is not None:
        tables["relative_effects_fixed.csv"] = fixed_beside
    if not converged:
        tables = {k: v.assign(unconverged=True) for k, v in tables.items()}
    timings["total"] = time.perf_counter() - t0
    run_info["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    from nma.reporting.deliverables import Deliverables

    extra = Deliverables(cfg=cfg, network=network, spec=spec, rel=rel, rank_table=rank_table, het=het,
                         fixed=fixed_beside, draws=all_draws, tau_draws=tau_draws, idata=idata, diag=diag_table,
                         divergences=divergences, notes=tuple(notes), selection_log=tuple(log), sources=sources,
                         treatments_meta=treatments_meta, converged=converged, run_info=run_info, engine=engine,
                         fit=fit_csv, checks=checks)
    write_outputs(outdir, tables, idata, run_info, notes, extra=extra.write)
    if outdir.parent.name == "outputs":
        from nma.reporting.report import write_index

        write_index(outdir.parent)
    lines = [network.summary(), "", spec.describe(), "", *[f"selection: {line}" for line in log], "",
             f"{'Relative effects versus ' + str(network.reference)} ({spec.measure}, median and {CI_PROB:.0%} CrI):"]
    for _, r in rel[rel["comparator"] == network.reference].iterrows():
        lines.append(f"  {r['treatment']}: {r['exp_median']:.2f} ({r['exp_lower']:.2f} to {r['exp_upper']:.2f})")
    if het is not None:
        lines.append(f"tau: median {het['median'].iloc[0]:.3f} ({het['lower'].iloc[0]:.3f} to {het['upper'].iloc[0]:.3f})")
    lines.append(f"{'UNCONVERGED results' if not converged else 'Results'} written to {outdir}/ in {timings['total']:.1f} s")
    return RunResult(outdir, "\n".join(lines), converged, tuple(notes))


def _idata_from_draws(network: Network, d: np.ndarray, tau: np.ndarray | None, chains: int):
    import arviz as az

    n = (len(d) // chains) * chains
    post = {"d": d[:n].reshape(chains, -1, d.shape[1])}
    if tau is not None:
        post["tau"] = tau[:n].reshape(chains, -1)
    return az.from_dict(posterior=post, coords={TREATMENT: list(network.treatments[1:])}, dims={"d": [TREATMENT]})


def _add_log_likelihood(idata, network: Network, d: np.ndarray, tau: np.ndarray | None, chains: int,
                        ll: np.ndarray | None = None) -> None:
    """Pointwise log-likelihood per study (chain, draw, study), for LOO; `ll` when computed elsewhere (binomial)."""
    import xarray as xr

    from nma.models.normal import study_log_likelihood

    ll = study_log_likelihood(network, d, tau) if ll is None else ll
    n_chain, n_draw = idata["posterior"].sizes["chain"], idata["posterior"].sizes["draw"]
    ll = ll[: n_chain * n_draw].reshape(n_chain, n_draw, -1)
    ds = xr.Dataset({"y": (("chain", "draw", STUDY), ll)},
                    coords={"chain": idata["posterior"]["chain"].values, "draw": idata["posterior"]["draw"].values,
                            STUDY: [str(s) for s in network.studies]})
    if "log_likelihood" in idata.groups():
        del idata["log_likelihood"]
    idata.add_groups(log_likelihood=ds)


