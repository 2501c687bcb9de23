"""The treatment network: validated once, frozen, and turned into plain NumPy for the model layer.

No PyMC or ArviZ here. The design matrix and the block-diagonal covariance are the whole interface
between the evidence and every engine (MCMC and exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
import pandas as pd

from nma.core.validation import check_contrasts
from nma.core.structure import Structure
from nma.core.measures import MEASURES, Measure, measure_of
from nma.core.ratios import check_labels, contrasts_from_ratios
from nma.core.tables import ROW
from nma.errors import ModelSpecError, NetworkDataError, UnknownTreatmentError


def connected_components(edges: list[tuple[str, str]], nodes: list[str] | None = None) -> list[list[str]]:
    """Treatments grouped into connected components, largest first (networkx does the graph work)."""
    graph = nx.Graph()
    graph.add_nodes_from(nodes or [])
    graph.add_edges_from(edges)
    comps = [sorted(c) for c in nx.connected_components(graph)]
    return sorted(comps, key=lambda c: (-len(c), c))


def study_edges(contrasts: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(study, treatment a, treatment b) for every pair of arms within a study."""
    out = []
    for study, g in contrasts.groupby("study", sort=False):
        arms = list(g["treatment"])
        out += [(study, a, b) for i, a in enumerate(arms) for b in arms[i + 1:]]
    return out


@dataclass(frozen=True, eq=False)
class Network:
    """Contrast-level evidence on one scale (e.g. log hazard ratio), one block per study.

    ``treatments[0]`` is the reference; the basic parameters ``d`` are the effects of
    ``treatments[1:]`` against it. Built by :meth:`from_contrasts`; never mutated.
    """

    contrasts: pd.DataFrame
    treatments: tuple[str, ...]
    measure: Measure = MEASURES["HR"]
    source: str = "<memory>"
    labels: Mapping[str, str] = field(default_factory=dict)   # treatment id -> label for tables and plots
    selection_log: tuple[str, ...] = ()   # how the rows were chosen, when selected from data/ (nma.load_evidence)

    @classmethod
    def from_contrasts(cls, df: pd.DataFrame, *, measure: str | Measure = "HR", reference: str | None = None,
                       source: str = "<memory>", require_connected: bool = True,
                       labels: Mapping[str, str] | None = None) -> Network:
        """`require_connected=False` for the contrast part of a mixed network, connected only with its arm part."""
        measure = measure_of(measure)
        df = df.reset_index(drop=True).copy()
        check_contrasts(df, source)
        treatments = ordered_treatments(df, reference, source, require_connected)
        # put each study's reference (empty y) row first, studies in order of appearance
        df["_is_ref"] = df["y"].isna()
        df = df.sort_values(["_is_ref"], ascending=False, kind="stable")
        order = {s: i for i, s in enumerate(pd.unique(df["study"]))}
        df = df.sort_values("study", key=lambda s: s.map(order), kind="stable").drop(columns="_is_ref").reset_index(drop=True)
        net = cls(df, treatments, measure, source, check_labels(labels, treatments))
        net._check_blocks()
        return net

    @classmethod
    def from_ratios(cls, df: pd.DataFrame, measure: str | Measure = "HR", *, reference: str | None = None,
                    labels: Mapping[str, str] | None = None, source: str = "<memory>") -> Network:
        """Ratios with their CIs exactly as printed: columns study, treatment, the ratio (``hr``, ``or``, ``rr``, or
        ``ratio``), ci_lower, ci_upper, optional ci_level (a fraction, default 0.95), p_value, n, events. The
        study's reference arm has an empty ratio (its ``events`` give the multi-arm covariance). y = log(ratio) and
        se = (log U - log L) / (2 z) are derived with the checks data/ has (nma.core.ratios)."""
        measure = measure_of(measure)
        if not measure.is_ratio:
            raise ModelSpecError(f"measure={measure.code!r} ({measure.name}) is a difference, not a ratio: from_ratios "
                                 "takes ratios with their CI (HR, OR, RR, RaR). Fix: use Network.from_contrasts(df, "
                                 f"measure={measure.code!r}) with y (the difference) and se")
        frame = contrasts_from_ratios(df, measure, source).drop(columns=ROW)
        return cls.from_contrasts(frame, measure=measure, reference=reference, source=source, labels=labels)

    # ---- structure -------------------------------------------------------------------------
    @property
    def reference(self) -> str:
        return self.treatments[0]

    @cached_property
    def studies(self) -> tuple[str, ...]:
        return tuple(pd.unique(self.contrasts["study"]))

    @cached_property
    def arms(self) -> pd.DataFrame:
        """Non-reference arms (one row per contrast) with the study's baseline treatment."""
        base = self.contrasts[self.contrasts["y"].isna()].set_index("study")["treatment"]
        arms = self.contrasts[self.contrasts["y"].notna()].copy()
        arms["baseline"] = arms["study"].map(base)
        return arms.reset_index(drop=True)

    @cached_property
    def contrast_labels(self) -> tuple[str, ...]:
        return tuple(f"{s}: {t} vs {b}" for s, t, b in self.arms[["study", "treatment", "baseline"]].itertuples(index=False))

    @cached_property
    def blocks(self) -> tuple[np.ndarray, ...]:
        """Row indices (into the contrast vector) of each study, in study order."""
        idx = self.arms.groupby("study", sort=False).indices
        return tuple(np.asarray(idx[s]) for s in self.studies)

    @cached_property
    def block_groups(self) -> dict[int, np.ndarray]:
        """Studies grouped by number of contrasts k: {k: (n_studies_k, k) row indices}, for vectorised likelihoods."""
        groups: dict[int, list] = {}
        for rows in self.blocks:
            groups.setdefault(len(rows), []).append(rows)
        return {k: np.vstack(v) for k, v in sorted(groups.items())}

    @cached_property
    def study_index(self) -> dict[int, np.ndarray]:
        """Position (in `studies`) of each study of each block group, in the same order as `block_groups`."""
        order: dict[int, list] = {}
        for i, rows in enumerate(self.blocks):
            order.setdefault(len(rows), []).append(i)
        return {k: np.asarray(v) for k, v in sorted(order.items())}

    @property
    def y(self) -> np.ndarray:
        return self.arms["y"].to_numpy(float)

    @cached_property
    def structure(self) -> Structure:
        """Treatments and arms without the data: what node-split and UME designs are built from."""
        return Structure(self.treatments, self.contrasts[["study", "treatment"]].reset_index(drop=True))

    @property
    def design(self) -> np.ndarray:
        """X with y = X d: +1 for the arm's treatment, -1 for the study baseline (reference column dropped)."""
        return self.structure.design

    @cached_property
    def covariance(self) -> np.ndarray:
        """Block-diagonal sampling covariance: se_k^2 on the diagonal, the baseline arm's variance off it."""
        V = np.diag(self.arms["se"].to_numpy(float) ** 2)
        ref_se = self.contrasts[self.contrasts["y"].isna()].set_index("study")["se"]
        for study, rows in zip(self.studies, self.blocks):
            if len(rows) > 1:
                v0 = float(ref_se[study]) ** 2
                for i in rows:
                    for j in rows:
                        if i != j:
                            V[i, j] = v0
        return V

    @cached_property
    def multi_arm_correlation(self) -> np.ndarray:
        """C: 1 on the diagonal, 0.5 within a multi-arm study (TSD2), so that Var(delta) = tau^2 C."""
        C = np.eye(len(self.arms))
        for rows in self.blocks:
            for i in rows:
                for j in rows:
                    if i != j:
                        C[i, j] = 0.5
        return C

    def _check_blocks(self) -> None:
        V = self.covariance
        for study, rows in zip(self.studies, self.blocks):
            try:
                np.linalg.cholesky(V[np.ix_(rows, rows)])
            except np.linalg.LinAlgError:
                raise NetworkDataError(f"contrast covariance matrix is not positive definite for study '{study}'. "
                                       "Fix: check the se column; the reference arm's se must be smaller than every "
                                       "contrast se of that study.") from None

    # ---- description -----------------------------------------------------------------------
    @cached_property
    def comparisons(self) -> pd.DataFrame:
        """Direct comparisons: treatment pair, number of studies, and their names."""
        return comparisons_table(self.contrasts)

    @property
    def n_studies_per_treatment(self) -> pd.Series:
        return self.contrasts.groupby("treatment")["study"].nunique()

    def summary(self) -> str:
        return network_summary(self.contrasts, self.reference, self.measure)

    def __repr__(self) -> str:
        return f"Network({len(self.studies)} studies, {len(self.treatments)} treatments, reference={self.reference!r})"


def default_reference(df: pd.DataFrame) -> str:
    """The most connected treatment: in most studies, then with most neighbours, then by name."""
    studies = df.groupby("treatment")["study"].nunique()
    neighbours: dict[str, set] = {}
    for _, a, b in study_edges(df):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    return sorted(studies.index, key=lambda t: (-studies[t], -len(neighbours.get(t, ())), str(t)))[0]


def ordered_treatments(df: pd.DataFrame, reference: str | None, source: str, require_connected: bool = True) -> tuple[str, ...]:
    """Every treatment of a study/treatment table, reference first (given, or the most connected), after checking
    that the reference exists and the network is connected: shared by contrast and arm-level networks."""
    found = sorted(set(df["treatment"]), key=str)
    if reference is None:
        reference = default_reference(df)
    elif reference not in found:
        raise UnknownTreatmentError(f"{source}: reference={reference!r}: reference treatment '{reference}' is not in the "
                                    f"network. Suitable values are: {', '.join(map(str, found))}. Fix: pass reference= one "
                                    "of them (or leave it out: the most connected treatment)",
                                    argument="reference", value=reference, valid=tuple(found), source=source)
    comps = connected_components([(a, b) for _, a, b in study_edges(df)], found)
    if len(comps) > 1 and require_connected:
        listing = "; ".join(f"component {i + 1}: {', '.join(map(str, c))}" for i, c in enumerate(comps))
        raise NetworkDataError(f"{source}: the network is disconnected ({len(comps)} components): {listing}. Treatments in "
                               "different components cannot be compared. Fix: add a trial that links them, or "
                               "analyse the components separately.")
    return (reference, *(t for t in found if t != reference))


def comparisons_table(df: pd.DataFrame) -> pd.DataFrame:
    """Direct comparisons of a study/treatment table: treatment pair, number of studies, and their names."""
    rows = {}
    for study, a, b in study_edges(df):
        key = tuple(sorted((a, b), key=str))
        rows.setdefault(key, []).append(study)
    return pd.DataFrame([{"treatment_a": a, "treatment_b": b, "n_studies": len(s), "studies": ", ".join(map(str, s))}
                         for (a, b), s in rows.items()])


def network_summary(df: pd.DataFrame, reference: str, measure: Measure) -> str:
    """The network in words (as multinma prints it), from any table with study and treatment columns."""
    comparisons = comparisons_table(df)
    arms = df.groupby("study", sort=False).size()
    lines = [f"A network of {len(arms)} studies ({int((arms > 2).sum())} multi-arm), {df['treatment'].nunique()} treatments, "
             f"{len(comparisons)} direct comparisons; measure: {measure.name} ({measure.code})."]
    for _, c in comparisons.iterrows():
        lines.append(f"  {c['treatment_a']} vs {c['treatment_b']}: {c['n_studies']} stud{'y' if c['n_studies'] == 1 else 'ies'} ({c['studies']})")
    lines.append(f"Reference treatment is: {reference}")
    lines.append("Network is connected")
    return "\n".join(lines)
