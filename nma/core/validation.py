"""Checks every route into a contrast table shares: one reference row per study, an se for each contrast, a positive-definite
multi-arm covariance, one spelling per treatment. The canonical columns are multinma's contrast format:
study, treatment, y (on the model scale, empty on the study's reference row), se, optional n, plus provenance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nma.core.tables import ROW, folded
from nma.errors import EvidenceError

CONTRAST_COLUMNS = ("study", "treatment", "y", "se")



CONTRAST_OPTIONAL = ("n",)



PROVENANCE = ("trial", "analysis", "data_cut", "population", "outcome_definition", "source_id", "location")



def check_contrasts(frame: pd.DataFrame, name: str = "<contrasts>") -> None:
    """Study-level checks shared by every route into the canonical format."""
    rows = frame[ROW] if ROW in frame else pd.Series(np.arange(len(frame)) + 2, index=frame.index)
    for study, g in frame.groupby("study", sort=False):
        first = int(rows[g.index].min())
        dup = g["treatment"][g["treatment"].duplicated()]
        if len(dup):
            raise EvidenceError(f"study '{study}' lists treatment '{dup.iloc[0]}' twice", file=name,
                                row=int(rows[dup.index[0]]), column="treatment", fix="each arm appears once per study")
        refs = g[g["y"].isna()]
        if len(refs) != 1:
            raise EvidenceError(f"study '{study}' has {len(refs)} reference rows (rows with empty y); exactly one is needed",
                                file=name, row=first, column="y",
                                fix="leave y empty on the reference arm's row only" if len(refs) else "add a row for the reference arm with y empty")
        if len(g) < 2:
            raise EvidenceError(f"study '{study}' has a single arm; a contrast needs two", file=name, row=first,
                                column="treatment", fix="add the comparator arm, or remove the study")
        arms = g[g["y"].notna()]
        if arms["se"].isna().any():
            bad = arms.index[arms["se"].isna()][0]
            raise EvidenceError(f"study '{study}': contrast has no se", file=name, row=int(rows[bad]), column="se",
                                fix="give the standard error of y")
        if len(arms) > 1 and math.isnan(refs["se"].iloc[0]):
            raise EvidenceError(f"multi-arm study '{study}' needs the reference arm's se (the covariance of its contrasts)",
                                file=name, row=int(rows[refs.index[0]]), column="se",
                                fix="type the SE of the reference arm's absolute effect on its row (e.g. 1/sqrt(events) for a log hazard)")
    _check_spellings(frame, rows, name)
    check_duplicate_studies(frame, name, ("y", "se"))



def check_duplicate_studies(frame: pd.DataFrame, name: str, values: tuple[str, ...]) -> None:
    """Two studies with identical arms and identical numbers are one trial typed under two names (T1 and T-1).

    Every route shares it: contrasts (`values` y, se: a ratio file's are derived from its ratio and CI, so identical
    ratios give identical values; the data/ route's from evidence.csv) and arm counts (r, n). The error names the
    file, both studies and where each is: its first spreadsheet row when the frame has one, else its source.
    """
    def number(v) -> object:
        return None if pd.isna(v) else float(v)

    def where(g: pd.DataFrame) -> str:
        if ROW in g:
            return f"row {int(g[ROW].min())}"
        cited = [f"{c} {g[c].iloc[0]}" for c in ("source_id", "location") if c in g and str(g[c].iloc[0]) not in ("", "nan")]
        return ", ".join(cited) or f"frame row {int(np.flatnonzero(frame.index == g.index[0])[0])}"

    seen: dict[tuple, tuple[str, pd.DataFrame]] = {}
    for study, g in frame.groupby("study", sort=False):
        key = tuple(sorted((str(t), *(number(v) for v in vals))
                           for t, *vals in g[["treatment", *values]].itertuples(index=False)))
        if key in seen:
            other, og = seen[key]
            raise EvidenceError(f"studies '{other}' ({where(og)}) and '{study}' ({where(g)}) have identical arms and "
                                f"identical numbers ({', '.join(values)}): the same trial under two names?",
                                file=name, row=int(g[ROW].min()) if ROW in g else None, column="study", value=study,
                                fix=f"keep one of '{other}' and '{study}' (delete the other's rows); if they are two "
                                    "trials, check the numbers against their sources")
        seen[key] = (str(study), g)



def _check_covariance(frame: pd.DataFrame, name: str) -> None:
    """A file's multi-arm studies, checked where the row can still be named (Network re-checks any frame)."""
    for study, g in frame.groupby("study", sort=False):
        arms, ref = g[g["y"].notna()], g[g["y"].isna()].iloc[0]
        if len(arms) > 1 and not _positive_definite(arms["se"].to_numpy(float), float(ref["se"])):
            raise EvidenceError(f"multi-arm study '{study}': the covariance of its contrasts is not positive definite",
                                file=name, row=int(ref[ROW]), column="se", value=ref["se"],
                                fix="the reference arm's se is the shared part of every contrast's se, so it must be "
                                    "smaller than each of them; check the se column of this study")



def _positive_definite(se: np.ndarray, ref_se: float) -> bool:
    """Var(y_k) = se_k^2, Cov(y_j, y_k) = ref_se^2: is that covariance matrix positive definite?"""
    cov = np.full((len(se), len(se)), ref_se**2)
    np.fill_diagonal(cov, se**2)
    return bool(np.linalg.eigvalsh(cov).min() > 1e-12 * cov.max())



def _check_spellings(frame: pd.DataFrame, rows: pd.Series, name: str) -> None:
    """Two ids differing only in case, spaces, '-' or '_' are one treatment spelled two ways, not two nodes."""
    first: dict[str, str] = {}
    for idx, t in frame["treatment"].items():
        other = first.setdefault(folded(str(t)), str(t))
        if other != str(t):
            raise EvidenceError(f"treatment '{t}' and '{other}' look like the same treatment spelled two ways",
                                file=name, row=int(rows[idx]), column="treatment", value=t,
                                fix=f"use one spelling ('{other}') everywhere, or give distinct treatments distinct ids")
