"""The effect measure of a network: what `d` is, on which scale it is modelled, and how it is shown.

A ratio measure (HR, OR, RR) is modelled on the log scale and shown exponentiated, with 1 as "no difference";
a difference measure (MD, SMD, RD) is modelled and shown as it is, with 0 as "no difference". The measure is a
property of the network (not a string in three places), so every table, plot and report labels it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nma.errors import ModelSpecError


@dataclass(frozen=True)
class Measure:
    """One effect measure. `code` is what users type (``"HR"``); `name` is it in words."""

    code: str
    name: str
    is_ratio: bool

    @property
    def null(self) -> float:
        """'No difference' on the shown scale: 1 for a ratio, 0 for a difference."""
        return 1.0 if self.is_ratio else 0.0

    @property
    def model_scale(self) -> str:
        """What `d` is: 'log hazard ratio' for HR, 'mean difference' for MD."""
        return f"log {self.name}" if self.is_ratio else self.name

    @property
    def model_label(self) -> str:
        """Short label of the model scale: 'log-HR', 'MD'."""
        return f"log-{self.code}" if self.is_ratio else self.code

    def to_shown(self, x):
        """From the model scale to the shown scale (exp for ratios, identity for differences)."""
        return np.exp(x) if self.is_ratio else x

    def from_shown(self, x):
        """From the shown scale to the model scale (log for ratios)."""
        return np.log(x) if self.is_ratio else x

    def __str__(self) -> str:
        return self.code


MEASURES: dict[str, Measure] = {m.code: m for m in (
    Measure("HR", "hazard ratio", True),
    Measure("OR", "odds ratio", True),
    Measure("RR", "risk ratio", True),
    Measure("RaR", "rate ratio", True),
    Measure("MD", "mean difference", False),
    Measure("SMD", "standardised mean difference", False),
    Measure("RD", "risk difference", False),
)}


def measure_of(value: str | Measure, argument: str = "measure") -> Measure:
    """A Measure from its code (case-insensitive), or a ModelSpecError naming the argument and the valid codes."""
    if isinstance(value, Measure):
        return value
    if isinstance(value, str):
        for code, m in MEASURES.items():
            if value.strip().lower() == code.lower():
                return m
    raise ModelSpecError(f"{argument}={value!r} is not a known effect measure. Fix: use one of "
                         f"{', '.join(MEASURES)} (ratio measures are modelled on the log scale)")
