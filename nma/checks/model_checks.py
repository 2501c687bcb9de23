"""Model checks run with every analysis, for every family: node-splitting, UME versus consistency, and
heterogeneity-prior sensitivity. The refits use the exact engine where the family has one (whatever engine the
analysis used) and MCMC behind the convergence gate otherwise. Tables and notes out; figures are reporting's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from nma.checks.inconsistency import NO_LOOPS, node_split, ume_comparison
from nma.checks.sensitivity import heterogeneity_sensitivity, tau_not_identified
from nma.constants import CI_PROB
from nma.models.families import Family, FitSettings, check_settings, family_of
from nma.models.posterior import Posterior
from nma.models.spec import ModelSpec
from nma.posterior.summaries import probs_for

#: Said instead of a node-split table when the config switches it off.
NODESPLIT_OFF = "switched off in the config ([model] nodesplit = false)"
#: Said when every check is switched off (quick exploratory runs, benchmarks).
CHECKS_OFF = ("ModelWarning: no model checks were run ([model] checks = false): no node-splitting, UME comparison or "
              "tau-prior sensitivity; run with checks on before reporting these results.")


@dataclass(frozen=True, eq=False)
class ModelChecks:
    nodesplit: pd.DataFrame | None     # None: the network has no loop of independent evidence (see NO_LOOPS)
    ume: pd.DataFrame | None           # None only when a binomial UME fit failed its convergence gate (see notes)
    sensitivity: pd.DataFrame | None   # None for fixed-effect analyses
    notes: tuple[str, ...]
    nodesplit_run: bool = True         # False: switched off by [model] nodesplit = false
    measure: str = "HR"                # labels of the figures and of the sensitivity columns

    @property
    def no_nodesplit(self) -> str:
        """What the report says instead of a node-split table."""
        if not self.nodesplit_run:
            return f"Node-splitting was not run: {NODESPLIT_OFF}."
        return f"Node-splitting is not possible: {NO_LOOPS}."

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"ume.csv": self.ume} if self.ume is not None else {}
        if self.nodesplit is not None:
            out["nodesplit.csv"] = self.nodesplit
        if self.sensitivity is not None:
            out["sensitivity.csv"] = self.sensitivity
        return out


#: Said when node-split and UME cannot address a network's likelihood (a binomial network with contrast studies).
NO_DESIGNS = ("node-splitting and UME are built for arm-level binomial networks; this network also has contrast-level "
              "studies, so they were not run")


def checks_not_run(network) -> ModelChecks:
    """The checks of a run that switched them off: no tables, one note saying so."""
    return ModelChecks(None, None, None, (CHECKS_OFF,), nodesplit_run=False, measure=network.measure.code)


def model_checks(network, spec: ModelSpec, settings: FitSettings | None = None, nodesplit: bool = True,
                 analysis: Posterior | None = None, fit_table: pd.DataFrame | None = None,
                 fixed: Posterior | None = None, family: Family | None = None) -> ModelChecks:
    """Everything TSD3/TSD4 ask beyond the fit itself; warnings come back as notes for warnings.txt.

    `analysis` (the analysis's posterior), its `fit_table` (fit.csv rows) and `fixed` (the fixed-effect companion
    of a random-effects run) are reused where they were fitted on the engine the checks use, instead of refitting.
    nodesplit=False skips node-splitting (one refit per split: the slow part on large networks); UME is kept.
    """
    family = family or family_of(network)
    settings = check_settings(family, settings or FitSettings())
    probs = probs_for(CI_PROB)
    reuse = analysis is not None and analysis.engine == settings.engine
    cons = analysis if reuse else family.fit(network, spec, settings)
    notes: list[str] = []
    split = ume = None
    if not family.supports_designs(network):
        notes.append(f"Inconsistency: {NO_DESIGNS}.")
    else:
        if not nodesplit:
            notes.append(f"Inconsistency: node-splitting was not run ({NODESPLIT_OFF}); the UME comparison (ume.csv) "
                         "still checks for inconsistency.")
        else:
            split, more = node_split(network, spec, probs, consistency=cons, settings=settings, family=family)
            notes += more
            if split is None and not more:
                notes.append(f"Inconsistency: {NO_LOOPS}, so node-splitting is not possible (the network has no loop "
                             "of independent evidence).")
            elif split is not None:
                flagged = split[(split["estimate"] == "inconsistency") & (split["p_value"] < 0.05)]
                notes += [f"Inconsistency: direct and indirect evidence disagree for {r.treatment} vs {r.comparator} "
                          f"(Bayesian p = {r.p_value:.3f}; see nodesplit.csv)" for r in flagged.itertuples(index=False)]
        ume, more = ume_comparison(network, spec, consistency=cons, consistency_fit=fit_table if reuse else None,
                                   settings=settings, family=family)
        notes += more
    sens = None
    if spec.effects == "random":
        fitted = ((cons, spec),) + (((fixed, replace(spec, effects="fixed")),) if fixed is not None else ())
        sens, more = heterogeneity_sensitivity(network, spec, probs, settings=settings, family=family, fitted=fitted)
        notes += more
        reason = tau_not_identified(network, spec.tau_prior, cons)
        if reason is not None and tau_not_identified(network) is None:   # the structural case is warned by the fit
            notes.append(f"ModelWarning: tau is not identified by the data: {reason}; see sensitivity.csv for the "
                         "results under other tau priors and under fixed effect.")
    return ModelChecks(split, ume, sens, tuple(notes), nodesplit, network.measure.code)
