"""Model checks for arm-level binary networks, by MCMC: node-splitting, UME versus consistency, tau-prior sensitivity.

The exact engine integrates a normal likelihood; the binomial one has no closed form, so each check refits the
binomial model with NUTS (the analysis's sampler settings and seed) and applies the analysis's convergence gate.
A refit that fails the gate is retried once (smaller steps, twice the tuning and draws), then left out of its table with a note:
it is never reported as a result.
Which comparisons to split, and the node-split and UME designs, are those of nma/inconsistency.py, applied to
`skeleton`: the arm-level studies written as contrasts with the same treatments and study baselines.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from nma.checks.inconsistency import (
    ESTIMATES,
    NO_LOOPS,
    nodesplit_design,
    split_comparisons,
    ume_design,
)
from nma.checks.model_checks import NODESPLIT_OFF, ModelChecks
from nma.checks.sensitivity import (
    DEFAULT_TAU_PRIORS,
    FIXED_EFFECT,
    SD_RATIO_LIMIT,
    prior_labels,
    prior_rows,
    spec_for,
    tau_not_identified,
)
from nma.constants import CI_PROB, COMPARATOR, PARAMETER, STUDY, TREATMENT
from nma.core.arms import ArmNetwork
from nma.core.network import Network
from nma.models.binomial import arm_draws, flat_draws, model_fit
from nma.models.binomial_pymc import build_binomial_model
from nma.models.priors import TauPrior
from nma.models.sampler import SamplerConfig, diagnostics, gate, sample
from nma.models.spec import ModelSpec
from nma.posterior.summaries import add_ratio_scale, probs_for, ranks

#: Said when a check is skipped for a network with contrast-level studies beside the arm counts.
MIXED = ("node-splitting and UME are built for arm-level binomial networks; this network also has contrast-level "
         "studies, so they were not run")


def skeleton(net: ArmNetwork) -> Network:
    """The arm-level studies as a contrast Network (y = 0, se = 1 placeholders) with the same treatment order and
    study baselines, so that the designs of nma/inconsistency.py address `net`'s delta rows one to one."""
    rows = net.arms[[STUDY, TREATMENT]].copy()
    rows["y"] = np.where(net.is_baseline, np.nan, 0.0)
    rows["se"] = np.where(net.is_baseline, 0.5, 1.0)   # any valid covariance: only the design is used
    sk = Network.from_contrasts(rows, reference=net.reference, measure="OR", source=net.source)
    assert sk.treatments == net.treatments and sk.contrast_labels == tuple(net.delta_labels)
    return sk


#: A check refit that fails the gate is tried once more with smaller steps, twice the tuning and draws (what a user would do
#: by hand: large studies make the non-centred random effects hard for NUTS), still with the analysis seed.
RETRY_TARGET_ACCEPT = 0.995


def refit(net: ArmNetwork, spec: ModelSpec, sampler: SamplerConfig, design=None, parameters=None):
    """One binomial fit and its gate: (idata, problems); problems empty when it passed (first try or retry)."""
    model = build_binomial_model(net, spec, design, parameters)
    names = ["beta" if design is not None else "d"] + (["tau"] if spec.effects == "random" else [])
    retry = replace(sampler, target_accept=max(sampler.target_accept, RETRY_TARGET_ACCEPT), tune=2 * sampler.tune,
                    draws=2 * sampler.draws)
    for config in (sampler, retry):
        idata = sample(model, config)
        table, divergences = diagnostics(idata, names)
        problems = gate(table, divergences)
        if not problems:
            break
    return idata, problems


def fixed_effect_draws(net: ArmNetwork, spec: ModelSpec, sampler: SamplerConfig) -> tuple[np.ndarray | None, list[str]]:
    """Draws (n, T; reference column 0) of the fixed-effect binomial model, behind the gate; for random-effects runs
    whose tau the data do not identify (relative_effects_fixed.csv) and for the fixed-effect row of sensitivity.csv."""
    idata, problems = refit(net, replace(spec, effects="fixed"), sampler)
    if problems:
        return None, [f"The fixed-effect fit failed the convergence gate twice and is not reported ({'; '.join(problems)})"]
    d = flat_draws(idata, "d", TREATMENT)
    return np.column_stack([np.zeros(len(d)), d]), []


def _summary(x: np.ndarray, probs: tuple[float, float, float]) -> dict[str, float]:
    q = np.quantile(x, probs)
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)), "lower": q[0], "median": q[1], "upper": q[2]}


def binomial_node_split(net: ArmNetwork, spec: ModelSpec, sampler: SamplerConfig, d_draws: np.ndarray,
                        probs: tuple[float, float, float]) -> tuple[pd.DataFrame | None, list[str]]:
    """Direct, indirect, network and inconsistency (direct - indirect) log-ORs per split comparison, with the
    Bayesian p = 2 min(P(inconsistency > 0), P(< 0)) from the draws; `d_draws` (n, T - 1) of the consistency fit."""
    sk = skeleton(net)
    splits = split_comparisons(sk)
    if not splits:
        return None, []
    p = len(net.treatments) - 1
    col = {t: i for i, t in enumerate(net.treatments[1:])}
    rows, notes = [], []
    for sp in splits:
        idata, problems = refit(net, spec, sampler, nodesplit_design(sk, sp), [*net.treatments[1:], "d_dir"])
        if problems:
            notes.append(f"Node-split of {sp.treatment} vs {sp.comparator} not reported: its fit failed the convergence gate "
                         f"twice ({'; '.join(problems)})")
            continue
        beta = flat_draws(idata, "beta", PARAMETER)
        basic = lambda draws, t: draws[:, col[t]] if t in col else np.zeros(len(draws))  # noqa: E731
        direct = beta[:, p]
        indirect = basic(beta, sp.treatment) - basic(beta, sp.comparator)
        network = basic(d_draws, sp.treatment) - basic(d_draws, sp.comparator)
        inconsistency = direct - indirect
        p_value = 2 * min(float((inconsistency > 0).mean()), float((inconsistency < 0).mean()))
        tau = float(np.median(flat_draws(idata, "tau"))) if spec.effects == "random" else np.nan
        for name, x in zip(ESTIMATES, (direct, indirect, network, inconsistency)):
            rows.append({TREATMENT: sp.treatment, COMPARATOR: sp.comparator, "estimate": name, **_summary(x, probs),
                         "p_value": p_value, "n_direct_studies": len(sp.studies),
                         "direct_studies": ", ".join(map(str, sp.studies)), "tau_median": tau})
    return (add_ratio_scale(pd.DataFrame(rows)) if rows else None), notes


def binomial_ume(net: ArmNetwork, spec: ModelSpec, sampler: SamplerConfig, consistency_fit: pd.DataFrame
                 ) -> tuple[pd.DataFrame | None, list[str]]:
    """Residual deviance, leverage and DIC per study under consistency (`consistency_fit`, the analysis's fit.csv
    rows) and under UME (one independent log-OR per compared pair), TOTAL row last, as ume.csv of the exact route."""
    X, pairs = ume_design(skeleton(net))
    idata, problems = refit(net, spec, sampler, X, [f"{t} vs {c}" for c, t in pairs])
    if problems:
        return None, [f"UME not reported: its fit failed the convergence gate twice ({'; '.join(problems)})"]
    mu, delta = arm_draws(idata)
    ume, ume_totals = model_fit(net, mu, delta, None, flat_draws(idata, "tau") if spec.effects == "random" else None)
    cons = consistency_fit[consistency_fit[STUDY] != "TOTAL"].set_index(STUDY).loc[list(net.arm_studies)]
    table = pd.DataFrame({STUDY: list(net.arm_studies), "n_datapoints": ume["n_datapoints"].to_numpy()})
    for col in ("resdev", "leverage", "dic"):
        table[f"{col}_consistency"] = cons[col].to_numpy(float)
        table[f"{col}_ume"] = ume[col].to_numpy(float)
    total = {STUDY: "TOTAL", "n_datapoints": int(table["n_datapoints"].sum())}
    for col in ("resdev", "leverage", "dic"):
        total[f"{col}_consistency"] = float(table[f"{col}_consistency"].sum())
    total.update(resdev_ume=ume_totals["resdev"], leverage_ume=ume_totals["pD"], dic_ume=ume_totals["DIC"])
    order = [STUDY, "n_datapoints"] + [f"{c}_{m}" for m in ("consistency", "ume") for c in ("resdev", "leverage", "dic")]
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)[order], []


def draws_sd_ratio(tau: np.ndarray, prior: TauPrior) -> float:
    """Posterior over prior spread of tau from draws: SDs, or interquartile ranges when the prior has no SD."""
    if np.isfinite(prior.sd):
        return float(tau.std(ddof=1) / prior.sd)
    lo, hi = prior.ppf(np.array([0.25, 0.75]))
    q25, q75 = np.quantile(tau, [0.25, 0.75])
    return float((q75 - q25) / (hi - lo))


def binomial_sensitivity(net: ArmNetwork, spec: ModelSpec, sampler: SamplerConfig, probs: tuple[float, float, float],
                         analysis_draws: tuple[np.ndarray, np.ndarray | None],
                         priors: tuple[str, ...] = DEFAULT_TAU_PRIORS,
                         fixed_draws: np.ndarray | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """sensitivity.csv for a binomial random-effects analysis: ORs versus the reference, P(best), SUCRA and tau
    under every prior of `prior_labels` and under fixed effect. The analysis's own prior reuses its draws, and
    fixed effect reuses `fixed_draws` when the run has already fitted it (`fixed_effect_draws`)."""
    frames, notes = [], []
    for label in prior_labels(spec, priors):
        s = spec_for(spec, label)
        if s == spec:
            all_draws, tau = analysis_draws
        elif label == FIXED_EFFECT:
            all_draws, more = (fixed_draws, []) if fixed_draws is not None else fixed_effect_draws(net, spec, sampler)
            tau = None
            if all_draws is None:
                notes += [f"Sensitivity: {m[0].lower()}{m[1:]}" for m in more]
                continue
        else:
            idata, problems = refit(net, s, sampler)
            if problems:
                notes.append(f"Sensitivity: the fit under '{label}' failed the convergence gate twice and is not reported "
                             f"({'; '.join(problems)})")
                continue
            d = flat_draws(idata, "d", TREATMENT)
            all_draws, tau = np.column_stack([np.zeros(len(d)), d]), flat_draws(idata, "tau")
        log_or = all_draws[:, 1:]
        q = np.quantile(log_or, probs, axis=0)
        effect = pd.DataFrame({"lower": q[0], "median": q[1], "upper": q[2]}, index=list(net.treatments[1:]))
        rk = ranks(all_draws, net.treatments, spec.lower_is_better).set_index(TREATMENT)
        tau_row = None
        if tau is not None:
            tq = np.quantile(tau, probs)
            tau_row = {"tau_median": tq[1], "tau_lower": tq[0], "tau_upper": tq[2],
                       "tau_sd_ratio": draws_sd_ratio(tau, s.tau_prior)}
        frames += prior_rows(label, spec, net.treatments, effect, rk, tau_row)
    return (pd.DataFrame(frames) if frames else None), notes


def binomial_model_checks(net: ArmNetwork, spec: ModelSpec, sampler: SamplerConfig, all_draws: np.ndarray,
                          tau_draws: np.ndarray | None, consistency_fit: pd.DataFrame, nodesplit: bool = True,
                          fixed_draws: np.ndarray | None = None) -> ModelChecks:
    """What `checks.model_checks` gives a contrast network, for a binomial one: refits by MCMC, notes for the report."""
    probs = probs_for(CI_PROB)
    notes: list[str] = []
    split, ume = None, None
    if net.contrast is not None:
        notes.append(f"Inconsistency: {MIXED}.")
    else:
        if nodesplit:
            split, more = binomial_node_split(net, spec, sampler, all_draws[:, 1:], probs)
            notes += more
            if split is None and not more:
                notes.append(f"Inconsistency: {NO_LOOPS}, so node-splitting is not possible (the network has no loop of "
                             "independent evidence).")
            elif split is not None:
                flagged = split[(split["estimate"] == "inconsistency") & (split["p_value"] < 0.05)]
                notes += [f"Inconsistency: direct and indirect evidence disagree for {r.treatment} vs {r.comparator} "
                          f"(Bayesian p = {r.p_value:.3f}; see nodesplit.csv)" for r in flagged.itertuples(index=False)]
        else:
            notes.append(f"Inconsistency: node-splitting was not run ({NODESPLIT_OFF}); the UME comparison (ume.csv) "
                         "still checks for inconsistency.")
        ume, more = binomial_ume(net, spec, sampler, consistency_fit)
        notes += more
    sens = None
    if spec.effects == "random":
        sens, more = binomial_sensitivity(net, spec, sampler, probs, (all_draws, tau_draws), fixed_draws=fixed_draws)
        notes += more
        ratio = draws_sd_ratio(tau_draws, spec.tau_prior) if tau_draws is not None else 0.0
        if ratio > SD_RATIO_LIMIT and tau_not_identified(net) is None:   # the structural case is warned by run.py
            notes.append(f"ModelWarning: tau is not identified by the data: the posterior spread of tau is {ratio:.2f} of "
                         f"its prior spread (above {SD_RATIO_LIMIT:g}); see sensitivity.csv for the results under other "
                         "tau priors and under fixed effect.")
    return ModelChecks(split, ume, sens, tuple(notes), nodesplit, spec.measure)

