"""Arm-level binary studies (responders r of n per arm), optionally beside contrast-level log-OR studies: the structure
the binomial family fits (NICE DSU TSD2 Programs 1 and 8). No PyMC here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from nma.core.measures import MEASURES, Measure
from nma.core.structure import Structure
from nma.core.network import (
    Network,
    comparisons_table,
    network_summary,
    ordered_treatments,
)
from nma.core.tables import ROW
from nma.core.validation import check_duplicate_studies
from nma.errors import EvidenceError, NetworkDataError


def check_arms(frame: pd.DataFrame, name: str = "<arms>") -> None:
    """Study-level checks shared by every route into the arm format."""
    rows = frame[ROW] if ROW in frame else pd.Series(np.arange(len(frame)) + 2, index=frame.index)
    over = frame.index[frame["r"] > frame["n"]]
    if len(over):
        i = over[0]
        raise EvidenceError(f"r = {frame.loc[i, 'r']:g} responders exceed n = {frame.loc[i, 'n']:g} patients", file=name,
                            row=int(rows[i]), column="r", fix="r counts the responders among the arm's n patients")
    for study, g in frame.groupby("study", sort=False):
        dup = g["treatment"][g["treatment"].duplicated()]
        if len(dup):
            raise EvidenceError(f"study '{study}' lists treatment '{dup.iloc[0]}' twice", file=name,
                                row=int(rows[dup.index[0]]), column="treatment", fix="each arm appears once per study")
        if len(g) < 2:
            raise EvidenceError(f"study '{study}' has a single arm; a comparison needs two", file=name,
                                row=int(rows[g.index].min()), column="treatment", fix="add the comparator arm, or remove the study")
    check_duplicate_studies(frame, name, ("r", "n"))



@dataclass(frozen=True, eq=False)
class ArmNetwork:
    """Arm-level binary studies, and optionally contrast-level log-OR studies, on the log odds ratio scale.

    ``treatments[0]`` is the reference; ``d`` are log-ORs of ``treatments[1:]`` against it. Each arm-level
    study's baseline arm (its first treatment in network order) anchors its log-odds mu_i; delta are the
    study-specific log-ORs of its other arms against that baseline. Built by :meth:`from_data`; never mutated.
    """

    arms: pd.DataFrame
    treatments: tuple[str, ...]
    contrast: Network | None = None
    source: str = "<memory>"
    measure: Measure = MEASURES["OR"]
    selection_log: tuple[str, ...] = ()   # how the rows were chosen, when selected from data/ (nma.load_evidence)

    @classmethod
    def from_data(cls, arms: pd.DataFrame, contrasts: pd.DataFrame | None = None, *, reference: str | None = None,
                  source: str = "<memory>") -> ArmNetwork:
        arms = arms.reset_index(drop=True).copy()
        check_arms(arms, source)
        both = pd.concat([arms[["study", "treatment"]]] + ([contrasts[["study", "treatment"]]] if contrasts is not None else []),
                         ignore_index=True)
        if contrasts is not None:
            shared = sorted(set(arms["study"]) & set(contrasts["study"]), key=str)
            if shared:
                raise NetworkDataError(f"study {shared[0]} is given both as arm counts and as contrasts; keep one form "
                                       "per study (arm counts where they exist)")
        treatments = ordered_treatments(both, reference, source)
        order = {t: i for i, t in enumerate(treatments)}
        studies = {s: i for i, s in enumerate(pd.unique(arms["study"]))}
        arms = arms.assign(_s=arms["study"].map(studies), _t=arms["treatment"].map(order))
        arms = arms.sort_values(["_s", "_t"], kind="stable").drop(columns=["_s", "_t"]).reset_index(drop=True)
        net = None
        if contrasts is not None:
            local_ref = next(t for t in treatments if t in set(contrasts["treatment"]))
            net = Network.from_contrasts(contrasts, reference=local_ref, measure="OR", source=source,
                                         require_connected=False)
        return cls(arms, treatments, net, source=source)

    @classmethod
    def from_arms(cls, arms: pd.DataFrame, *, contrasts: pd.DataFrame | None = None, reference: str | None = None,
                  source: str = "<memory>") -> ArmNetwork:
        """A binary-outcome network from arm counts: columns ``study, treatment, r, n`` (responders of n).

        `contrasts` adds contrast-level studies (``study, treatment, y, se`` with y a log odds ratio), which share d
        and tau with the arm-level ones (TSD2 Program 8). The measure is the odds ratio."""
        return cls.from_data(arms, contrasts, reference=reference, source=source)

    # ---- structure -------------------------------------------------------------------------
    @property
    def reference(self) -> str:
        return self.treatments[0]

    @cached_property
    def arm_studies(self) -> tuple[str, ...]:
        return tuple(pd.unique(self.arms["study"]))

    @cached_property
    def studies(self) -> tuple[str, ...]:
        return self.arm_studies + (self.contrast.studies if self.contrast is not None else ())

    @cached_property
    def contrasts(self) -> pd.DataFrame:
        """Every study's rows, arm counts and contrasts alike (for contrasts.csv, the report and the plots)."""
        return pd.concat([self.arms] + ([self.contrast.contrasts] if self.contrast is not None else []), ignore_index=True)

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        return comparisons_table(self.contrasts)

    @property
    def n_studies_per_treatment(self) -> pd.Series:
        return self.contrasts.groupby("treatment")["study"].nunique()

    @cached_property
    def study_of_arm(self) -> np.ndarray:
        pos = {s: i for i, s in enumerate(self.arm_studies)}
        return self.arms["study"].map(pos).to_numpy(int)

    @cached_property
    def treatment_of_arm(self) -> np.ndarray:
        """Index into `treatments` (0 = reference) of each arm."""
        pos = {t: i for i, t in enumerate(self.treatments)}
        return self.arms["treatment"].map(pos).to_numpy(int)

    @cached_property
    def is_baseline(self) -> np.ndarray:
        return ~self.arms["study"].duplicated().to_numpy()

    @cached_property
    def delta_position(self) -> np.ndarray:
        """Per arm: 0 for a baseline arm, else 1 + its index among the non-baseline arms (into [0, delta])."""
        return np.where(self.is_baseline, 0, np.cumsum(~self.is_baseline))

    @cached_property
    def baseline_of_arm(self) -> np.ndarray:
        """Treatment index of each arm's study baseline."""
        first = self.treatment_of_arm[self.is_baseline]
        return first[self.study_of_arm]

    @cached_property
    def structure(self) -> Structure:
        """The arm-level studies' treatments and arms (baseline first): its contrasts are the delta rows one to one.
        A mixed network's contrast-level studies are not part of it (designs apply to the arm-level model only)."""
        return Structure(self.treatments, self.arms[["study", "treatment"]].reset_index(drop=True))

    @cached_property
    def delta_labels(self) -> list[str]:
        a = self.arms[~self.is_baseline]
        base = np.asarray(self.treatments)[self.baseline_of_arm[~self.is_baseline]]
        return [f"{s}: {t} vs {b}" for s, t, b in zip(a["study"], a["treatment"], base)]

    @cached_property
    def arm_labels(self) -> list[str]:
        return [f"{s}: {t}" for s, t in self.arms[["study", "treatment"]].itertuples(index=False)]

    @cached_property
    def delta_cholesky(self) -> np.ndarray:
        """Block-diagonal Cholesky factor of C (1 on the diagonal, 0.5 within a study): delta = theta + tau L z."""
        study = self.study_of_arm[~self.is_baseline]
        C = np.where(study[:, None] == study[None, :], 0.5, 0.0) + 0.5 * np.eye(len(study))
        return np.linalg.cholesky(C)

    @cached_property
    def centre_weights(self) -> np.ndarray:
        """(arm-level studies, arms) weights w_ik ~ n p(1 - p) of each arm in its study, summing to 1 per study.

        Only for conditioning: the model samples each study's information-weighted mean log-odds
        m_i = mu_i + sum_k w_ik delta_ik rather than mu_i, which the data nearly decorrelate from delta. The shear
        has unit Jacobian, and mu keeps its prior, so the posterior is unchanged (p uses (r + 0.5)/(n + 1) here,
        in the weights only; the likelihood sees the counts as they are)."""
        r, n = self.arms["r"].to_numpy(float), self.arms["n"].to_numpy(float)
        p = (r + 0.5) / (n + 1.0)
        v = n * p * (1 - p)
        W = np.zeros((len(self.arm_studies), len(self.arms)))
        W[self.study_of_arm, np.arange(len(self.arms))] = v
        return W / W.sum(1, keepdims=True)

    @cached_property
    def delta_se(self) -> np.ndarray:
        """Approximate SE of each delta's log-OR from the counts ((r + 0.5) / (n + 1) per arm): a measure of how much
        a study's data say about its random effects, used to choose its parameterisation, never as data."""
        r, n = self.arms["r"].to_numpy(float), self.arms["n"].to_numpy(float)
        p = (r + 0.5) / (n + 1.0)
        var = 1.0 / (n * p * (1 - p))
        base = np.flatnonzero(self.is_baseline)[self.study_of_arm]
        return np.sqrt(var + var[base])[~self.is_baseline]

    def log_odds_ratios(self) -> pd.DataFrame:
        """The arm-level studies as a contrast table (study, treatment, y, se: log-OR vs the study's baseline arm,
        0.5 added to every cell of a study with a zero cell; the baseline row's se is its arm's, as in a contrast CSV
        for a multi-arm trial). An approximation for choosing how to sample, never the model's likelihood."""
        a = self.arms.reset_index(drop=True)
        r, n = a["r"].to_numpy(float), a["n"].to_numpy(float)
        zero = pd.Series((r == 0) | (r == n)).groupby(self.study_of_arm).transform("any").to_numpy()
        r, n = r + 0.5 * zero, n + 1.0 * zero
        logit, var = np.log(r / (n - r)), 1 / r + 1 / (n - r)
        base = np.flatnonzero(self.is_baseline)[self.study_of_arm]
        y = np.where(self.is_baseline, np.nan, logit - logit[base])
        se = np.where(self.is_baseline, np.sqrt(var), np.sqrt(var + var[base]))
        return pd.DataFrame({"study": a["study"], "treatment": a["treatment"], "y": y, "se": se})

    @cached_property
    def contrast_treatment_index(self) -> np.ndarray:
        """Index into `treatments` of the contrast part's treatments (its reference first)."""
        pos = {t: i for i, t in enumerate(self.treatments)}
        return np.array([pos[t] for t in self.contrast.treatments])

    def summary(self) -> str:
        text = network_summary(self.contrasts, self.reference, self.measure)
        kinds = f"{len(self.arm_studies)} with arm-level counts (binomial likelihood)"
        if self.contrast is not None:
            kinds += f", {len(self.contrast.studies)} with contrast-level log-ORs (normal likelihood)"
        return text.replace("\n", f"\nStudies: {kinds}.\n", 1)

    def __repr__(self) -> str:
        return f"ArmNetwork({len(self.studies)} studies, {len(self.treatments)} treatments, reference={self.reference!r})"
