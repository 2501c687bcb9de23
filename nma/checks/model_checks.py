"""Model checks run with every analysis (exact engine, whatever engine the analysis used): node-splitting, UME
versus consistency, and heterogeneity-prior sensitivity. One call from `nma run`; tables, notes and figures out.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nma.checks.inconsistency import NO_LOOPS, node_split, ume_comparison
from nma.checks.sensitivity import heterogeneity_sensitivity, tau_not_identified
from nma.constants import CI_PROB
from nma.core.network import Network
from nma.models.exact import fit_exact
from nma.models.spec import ModelSpec
from nma.posterior.summaries import probs_for

#: Said instead of a node-split table when the config switches it off.
NODESPLIT_OFF = "switched off in the config ([model] nodesplit = false)"


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


def model_checks(network: Network, spec: ModelSpec, seed: int, n_draws: int, nodesplit: bool = True) -> ModelChecks:
    """Everything TSD3/TSD4 ask beyond the fit itself; warnings come back as notes for warnings.txt.

    nodesplit=False skips node-splitting (one exact fit per split: the slow part on large networks); UME is kept.
    """
    probs = probs_for(CI_PROB)
    cons = fit_exact(network, spec)
    notes = []
    split = node_split(network, spec, probs, consistency=cons) if nodesplit else None
    if not nodesplit:
        notes.append(f"Inconsistency: node-splitting was not run ({NODESPLIT_OFF}); the UME comparison (ume.csv) "
                     "still checks for inconsistency.")
    elif split is None:
        notes.append(f"Inconsistency: {NO_LOOPS}, so node-splitting is not possible (the network has no loop of "
                     "independent evidence).")
    else:
        flagged = split[(split["estimate"] == "inconsistency") & (split["p_value"] < 0.05)]
        for r in flagged.itertuples(index=False):
            notes.append(f"Inconsistency: direct and indirect evidence disagree for {r.treatment} vs {r.comparator} "
                         f"(Bayesian p = {r.p_value:.3f}; see nodesplit.csv)")
    ume = ume_comparison(network, spec, seed, n_draws, consistency=cons)
    sens = None
    if spec.effects == "random":
        sens = heterogeneity_sensitivity(network, spec, seed, n_draws, probs)
        reason = tau_not_identified(network, spec.tau_prior, cons)
        if reason is not None and tau_not_identified(network) is None:   # the structural case is warned by run.py
            notes.append(f"ModelWarning: tau is not identified by the data: {reason}; see sensitivity.csv for the "
                         "results under other tau priors and under fixed effect.")
    return ModelChecks(split, ume, sens, tuple(notes), nodesplit, spec.measure)
