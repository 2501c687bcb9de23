"""Treatment nodes: how an analysis groups regimens, stated in its config and never silent.

A node pools regimens the analyst judges exchangeable for this question (for example "trastuzumab +
taxane" pooling docetaxel and paclitaxel backbones). The config names each node, the treatment ids it
pools and why; the contrast table keeps the arm's own regimen in `regimen`, so a reviewer can see,
change and rerun the grouping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from nma.errors import NetworkDataError


@dataclass(frozen=True)
class NodeGrouping:
    """node id -> the treatment ids it pools, and the reason. Empty: every regimen is its own node."""

    pools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rationale: str = ""

    def node_of(self) -> dict[str, str]:
        return {t: node for node, members in self.pools.items() for t in members}

    def describe(self) -> str:
        if not self.pools:
            return "Treatment nodes: each regimen is its own node (no pooling)."
        parts = [f"{node} = {' + '.join(members)}" for node, members in self.pools.items()]
        return f"Treatment nodes pooled: {'; '.join(parts)}. Why: {self.rationale}"


def check_grouping(grouping: NodeGrouping, known: set[str], where: str) -> None:
    """Every pooled id must exist, and belong to one node only."""
    seen: dict[str, str] = {}
    for node, members in grouping.pools.items():
        for t in (node, *members):
            if t not in known:
                raise NetworkDataError(f"{where}: [data.nodes] {node} names treatment '{t}', which is not in "
                                       "treatments.csv. Fix: use an id from treatments.csv (a node is named after "
                                       "one of them, or add the node as a regimen there)")
        for t in members:
            if t in seen and seen[t] != node:
                raise NetworkDataError(f"{where}: treatment '{t}' is pooled into two nodes, '{seen[t]}' and '{node}'. "
                                       "Fix: put it in one node only")
            seen[t] = node


def apply_grouping(contrasts: pd.DataFrame, grouping: NodeGrouping, log: list[str]) -> pd.DataFrame:
    """Relabel arms with their node; the arm's regimen stays in `regimen`. Two arms of one trial in one node
    would be a contrast of a node with itself, so that is an error naming the trial."""
    if not grouping.pools:
        return contrasts
    node_of = grouping.node_of()
    out = contrasts.assign(regimen=contrasts["treatment"], treatment=contrasts["treatment"].map(lambda t: node_of.get(t, t)))
    for study, g in out.groupby("study", sort=False):
        dup = g["treatment"][g["treatment"].duplicated()]
        if len(dup):
            arms = ", ".join(g.loc[g["treatment"] == dup.iloc[0], "regimen"])
            raise NetworkDataError(f"{study}: arms {arms} are all pooled into node '{dup.iloc[0]}', so the trial would "
                                   "compare a node with itself. Fix: keep those regimens in separate nodes, or exclude "
                                   f"{study} with [data] exclude_trials")
    for node, members in grouping.pools.items():
        used = sorted(set(out.loc[out["treatment"] == node, "regimen"]))
        if used:
            log.append(f"node '{node}' pools {', '.join(used)}: {grouping.rationale}")
    return out
