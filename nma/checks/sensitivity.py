"""How much the heterogeneity prior drives the answer, and whether the data identify tau at all.

Sparse oncology networks rarely inform tau, so a random-effects result can be mostly its tau prior. Every
random-effects analysis is refitted under DEFAULT_TAU_PRIORS and under fixed effect, through the network's family
(the exact engine, milliseconds each, where it exists; MCMC behind the convergence gate otherwise), and the effects
against the reference, P(best) and SUCRA are tabulated side by side.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from nma.constants import COMPARATOR, TREATMENT
from nma.models.families import Family, FitSettings, check_settings, family_of
from nma.models.posterior import Posterior
from nma.models.posterior import tau_spread_ratio as tau_sd_ratio
from nma.models.priors import TauPrior, parse_tau_prior
from nma.models.spec import ModelSpec
from nma.posterior.summaries import ranks

#: Refitted for every random-effects analysis: weakly informative half-normals from tight to wide, a bounded
#: uniform, and Turner et al. (2015)'s informative log-normal for a generic outcome (see nma/priors.py).
DEFAULT_TAU_PRIORS = ("half-normal(0.1)", "half-normal(0.5)", "half-normal(1)", "uniform(0, 2)", "turner2015_general")
FIXED_EFFECT = "fixed effect"
#: Posterior SD of tau above this fraction of its prior SD: the data barely moved the prior.
SD_RATIO_LIMIT = 0.9


def tau_not_identified(network, prior: TauPrior | None = None, post: Posterior | None = None) -> str | None:
    """Why the data do not identify tau, or None. The one rule behind every "tau is not identified" warning.

    Without a posterior only the structure is checked: some comparison needs two or more trials (loops alone
    barely inform tau). With the prior and a posterior, also the prior-to-posterior SD ratio.
    """
    if int(network.comparisons["n_studies"].max()) < 2:
        return "no comparison has more than one trial"
    if prior is not None and post is not None:
        ratio = tau_sd_ratio(post, prior)
        if ratio > SD_RATIO_LIMIT:
            return (f"the posterior spread of tau is {ratio:.2f} of its prior spread (above {SD_RATIO_LIMIT:g}), so "
                    "its posterior mostly restates the prior")
    return None


def prior_labels(spec: ModelSpec, priors: tuple[str, ...] = DEFAULT_TAU_PRIORS) -> list[str]:
    """The analysis's own prior first when it is not among `priors`, then `priors`, then fixed effect."""
    own = spec.tau_prior.text if spec.effects == "random" else FIXED_EFFECT
    return ([own] if own not in (*priors, FIXED_EFFECT) else []) + list(priors) + [FIXED_EFFECT]


def spec_for(spec: ModelSpec, label: str) -> ModelSpec:
    return replace(spec, effects="fixed") if label == FIXED_EFFECT else replace(spec, effects="random",
                                                                                tau_prior=parse_tau_prior(label))


def prior_rows(label: str, spec: ModelSpec, measure, treatments: tuple[str, ...], effect: pd.DataFrame, rk: pd.DataFrame,
               tau: dict | None) -> list[dict]:
    """Rows of sensitivity.csv for one prior: `effect` (model-scale median/lower/upper vs the reference, indexed by
    treatment), `rk` (ranks indexed by treatment), `tau` (median, lower, upper, sd ratio; None under fixed effect).
    Columns are named after the measure, on its shown scale: hr_median for hazard ratios, or_median for odds
    ratios, md_median for mean differences."""
    own = spec.tau_prior.text if spec.effects == "random" else FIXED_EFFECT
    m = measure.code.lower()
    tau = tau or {"tau_median": np.nan, "tau_lower": np.nan, "tau_upper": np.nan, "tau_sd_ratio": np.nan}
    out = []
    for t in treatments:
        shown = (measure.to_shown(effect.loc[t, ["median", "lower", "upper"]].to_numpy(float)) if t != treatments[0]
                 else np.full(3, np.nan))
        out.append({"prior": label, "analysis": label == own, TREATMENT: t, COMPARATOR: treatments[0], f"{m}_median": shown[0],
                    f"{m}_lower": shown[1], f"{m}_upper": shown[2], "p_best": rk.loc[t, "p_best"], "sucra": rk.loc[t, "sucra"],
                    **tau})
    return out


def heterogeneity_sensitivity(network, spec: ModelSpec, probs: tuple[float, float, float],
                              priors: tuple[str, ...] = DEFAULT_TAU_PRIORS, settings: FitSettings | None = None,
                              family: Family | None = None, fitted: tuple[tuple[Posterior, ModelSpec], ...] = ()
                              ) -> tuple[pd.DataFrame | None, list[str]]:
    """One row per prior x treatment: tau (median, CrI, SD ratio), the effect versus the reference, P(best), SUCRA.

    The analysis's own prior comes first when it is not in `priors` (column `analysis` marks it); fixed effect last.
    Each prior is refitted through the family (`check_settings`), with the analysis seed, so ranks use the same draws
    as the analysis's ranks.csv on the exact engine. `fitted` are posteriors the run already has (the analysis's own,
    the fixed-effect companion), as (posterior, spec) pairs: one whose spec and engine match a row is reused rather than refitted. A refit that
    fails the convergence gate is left out, with a note.
    """
    family = family or family_of(network)
    settings = check_settings(family, settings or FitSettings())
    ref = network.reference
    frames, notes = [], []
    for label in prior_labels(spec, priors):
        s = spec_for(spec, label)
        post = next((f for f, fs in fitted if fs == s and f.engine == settings.engine), None)
        if post is None:
            post = family.fit(network, s, settings)
        if post.problems:
            notes.append(f"Sensitivity: the fit under '{label}' failed the convergence gate twice and is not reported "
                         f"({'; '.join(post.problems)})")
            continue
        rel = post.relative_effects(probs, settings.seed)
        rel = rel[rel[COMPARATOR] == ref].set_index(TREATMENT)
        rk = ranks(post.all_treatment_draws(), network.treatments, spec.lower_is_better).set_index(TREATMENT)
        tau = None
        if label != FIXED_EFFECT:
            q = post.tau_summary(probs)
            tau = {"tau_median": q[probs[1]], "tau_lower": q[probs[0]], "tau_upper": q[probs[2]],
                   "tau_sd_ratio": post.tau_sd_ratio(s.tau_prior)}
        frames += prior_rows(label, spec, network.measure, network.treatments, rel, rk, tau)
    return (pd.DataFrame(frames) if frames else None), notes
