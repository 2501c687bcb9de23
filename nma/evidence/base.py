"""The shipped evidence base as a Python object: `nma.load_evidence("data").select(setting=..., outcome=...)`.

The same selection rules `nma run` applies to a config's [data] table, returning the network (contrast-level for
time-to-event outcomes, arm-level for binary ones) with its selection log.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from nma.constants import BINARY
from nma.core.arms import ArmNetwork
from nma.core.network import Network
from nma.evidence.evidence import Evidence, load
from nma.evidence.nodes import NodeGrouping
from nma.evidence.selection import Selection, TrialChoice


@dataclass(frozen=True, eq=False)
class EvidenceBase:
    """The validated data/ folder (treatments, sources, evidence rows)."""

    evidence: Evidence

    @property
    def treatments(self):
        return self.evidence.treatments

    def select(self, setting: str, outcome: str, *, population: str = "itt", outcome_definition: str | None = None,
               trials: dict[str, dict] | None = None, exclude_trials=(), include_trials=(), nodes: dict | None = None,
               nodes_rationale: str = "", responders_from_rates: bool = False, reference: str | None = None):
        """One network: one analysis, population and source per trial, chosen by the rules in data/README.md.

        Returns a Network (hazard ratios) or, for a binary outcome, an ArmNetwork (odds ratios); its `selection_log`
        attribute says which rule chose each row."""
        selection = Selection(setting=setting, outcome=outcome, population=population,
                              outcome_definition=outcome_definition,
                              trials={t: TrialChoice(**c) for t, c in (trials or {}).items()},
                              exclude_trials=tuple(exclude_trials), include_trials=tuple(include_trials),
                              nodes=NodeGrouping({k: tuple(v) for k, v in (nodes or {}).items()}, nodes_rationale),
                              responders_from_rates=responders_from_rates)
        net, selected = select_network(self.evidence, selection, reference)
        return replace(net, selection_log=tuple(selected.log))

    def __repr__(self) -> str:
        return f"EvidenceBase({self.evidence!r})"


def select_network(evidence: Evidence, selection: Selection, reference: str | None = None):
    """The network of one selection and what was selected (rows and log): hazard ratios become a contrast Network;
    binary outcomes (responders of n) an ArmNetwork, whose family is binomial. The one place the data/ route
    decides the network kind; `nma run` and `EvidenceBase.select` both come through here."""
    if selection.outcome in BINARY:
        from nma.evidence.counts import select_arms

        selected = select_arms(evidence, selection)
        return ArmNetwork.from_arms(selected.contrasts, reference=reference, source=evidence.path), selected
    from nma.evidence.selection import select

    selected = select(evidence, selection)
    return Network.from_contrasts(selected.contrasts, reference=reference, source=evidence.path), selected


def load_evidence(path: str | Path = "data") -> EvidenceBase:
    """Load and validate a data/ folder (treatments.csv, sources.csv, evidence.csv); errors name file, row, column."""
    return EvidenceBase(load(path))
