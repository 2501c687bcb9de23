"""Who was compared with whom, without the data: the one structure every network kind shares.

Node-splitting and UME designs, connectivity and the consistency design matrix are functions of this alone,
so they serve contrast-level (normal) and arm-level (binomial) networks alike, with no placeholder data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from nma.constants import STUDY, TREATMENT


@dataclass(frozen=True, eq=False)
class Structure:
    """Treatments (reference first) and every study's arms, each study's baseline arm first.

    `contrasts` are the non-baseline arms against their study's baseline, in the order the network's likelihood
    uses them (its contrast rows for a contrast network, its delta parameters for an arm-level one)."""

    treatments: tuple[str, ...]
    arms: pd.DataFrame            # study, treatment; the first arm of each study is its baseline

    @property
    def reference(self) -> str:
        return self.treatments[0]

    @cached_property
    def studies(self) -> tuple[str, ...]:
        return tuple(pd.unique(self.arms[STUDY]))

    @cached_property
    def contrasts(self) -> pd.DataFrame:
        """study, treatment, baseline: one row per non-baseline arm."""
        first = ~self.arms[STUDY].duplicated()
        base = self.arms[first].set_index(STUDY)[TREATMENT]
        rows = self.arms.loc[~first, [STUDY, TREATMENT]].copy()
        rows["baseline"] = rows[STUDY].map(base)
        return rows.reset_index(drop=True)

    @cached_property
    def design(self) -> np.ndarray:
        """X with theta = X d: +1 for the arm's treatment, -1 for the study baseline (reference column dropped)."""
        col = {t: i for i, t in enumerate(self.treatments[1:])}
        X = np.zeros((len(self.contrasts), len(self.treatments) - 1))
        for r, (t, b) in enumerate(self.contrasts[[TREATMENT, "baseline"]].itertuples(index=False)):
            if t in col:
                X[r, col[t]] += 1.0
            if b in col:
                X[r, col[b]] -= 1.0
        return X

    @cached_property
    def edges(self) -> list[tuple[str, str, str]]:
        """(study, treatment a, treatment b) for every pair of arms within a study."""
        out = []
        for study, g in self.arms.groupby(STUDY, sort=False):
            arms = list(g[TREATMENT])
            out += [(study, a, b) for i, a in enumerate(arms) for b in arms[i + 1:]]
        return out

    @cached_property
    def study_treatments(self) -> dict[str, set]:
        return {s: set(g) for s, g in self.arms.groupby(STUDY, sort=False)[TREATMENT]}
