"""The order of a trial's analyses (data cuts), read from their `analysis` labels in evidence.csv.

A trial reports several analyses of one outcome: the primary analysis, interim overall-survival analyses, an
updated or N-year follow-up, the final analysis, a long-term or end-of-study follow-up. "The latest analysis" is the
latest in this order, whether or not a data-cut date is printed: sources often omit the date of later analyses.

Stages (documented, with every label, in data/README.md):

====  ==========================  ==================================================================================
rank  stage                       labels
====  ==========================  ==================================================================================
0     primary                     ``primary``, ``bm_primary``
1     interim 1                   ``interim``, ``first_interim_os``, ``os_interim1``, ``os_ia1``
2     interim 2                   ``second_interim_os``, ``os_interim2``, ``os_ia2``
3     updated / N-year follow-up  ``updated``, ``updated_os``, ``bm_updated``, ``updated_<...>``, ``update_<...>``,
                                  ``<N>y`` (N years of follow-up), ``pfs_investigator_2019``
4     final                       ``final``, ``final_<...>`` (``final_os``, ``final_idfs``, ``final_hr_pos``)
5     long-term / end of study    ``end_of_study``, ``long_term_<...>``, ``longterm_<...>``
--    not ordered                 ``mcbs_unspecified``, ``unattributed``: analyses a source does not attribute to a
                                  cut; never "latest", used only when a config names them (or they are the only one)
====  ==========================  ==================================================================================

Within a stage, a follow-up printed in the label (``6y`` < ``8y``, ``updated_6.9y``) orders the analyses, then the
data cut where both are dated. Any other label is an error: add it here and to data/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STAGES = ("primary", "interim 1", "interim 2", "updated / N-year follow-up", "final", "long-term / end of study")

_EXACT = {
    "primary": 0, "bm_primary": 0,
    "interim": 1, "first_interim_os": 1, "os_interim1": 1, "os_ia1": 1,
    "second_interim_os": 2, "os_interim2": 2, "os_ia2": 2,
    "updated": 3, "updated_os": 3, "bm_updated": 3, "pfs_investigator_2019": 3,
    "final": 4,
    "end_of_study": 5,
}
_PREFIXES = (("updated_", 3), ("update_", 3), ("final_", 4), ("long_term_", 5), ("longterm_", 5))
_YEARS = re.compile(r"(?:^|_)(\d+(?:\.\d+)?)y$")
UNORDERED = frozenset({"mcbs_unspecified", "unattributed"})


@dataclass(frozen=True)
class AnalysisRank:
    """Where an analysis label sits in the order: its stage (None: not ordered) and the follow-up in its label."""

    label: str
    stage: int | None
    years: float | None = None

    @property
    def stage_name(self) -> str:
        return "not ordered" if self.stage is None else STAGES[self.stage]

    def describe(self) -> str:
        return f"{self.label} ({self.stage_name})"


def analysis_rank(label: str) -> AnalysisRank | None:
    """The rank of an `analysis` label, or None when the label is not in the documented vocabulary."""
    m = _YEARS.search(label)
    years = float(m.group(1)) if m else None
    if label in UNORDERED:
        return AnalysisRank(label, None)
    if label in _EXACT:
        return AnalysisRank(label, _EXACT[label], years)
    if m and m.start() == 0:                      # "5y", "8y": N years of follow-up
        return AnalysisRank(label, 3, years)
    for prefix, stage in _PREFIXES:
        if label.startswith(prefix) and len(label) > len(prefix):
            return AnalysisRank(label, stage, years)
    return None


def known_labels_hint() -> str:
    """The vocabulary, for error messages."""
    exact = ", ".join(sorted(_EXACT))
    prefixes = ", ".join(f"{p}..." for p, _ in _PREFIXES)
    return f"{exact}, {prefixes}, <N>y, or (not ordered) {', '.join(sorted(UNORDERED))}"
