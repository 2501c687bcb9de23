"""A user's contrast CSV (study, treatment, y, se[, n]): read strictly, every error naming its file, row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nma.core.tables import ROW, Cell, parse_number, read_csv_strict
from nma.core.validation import (
    CONTRAST_COLUMNS,
    CONTRAST_OPTIONAL,
    PROVENANCE,
    _check_covariance,
    check_contrasts,
)
from nma.errors import EvidenceError


def load_contrasts(path: str | Path) -> pd.DataFrame:
    """Read and validate a contrast CSV in the canonical format."""
    frame = read_csv_strict(path, required=CONTRAST_COLUMNS, optional=CONTRAST_OPTIONAL + PROVENANCE)
    name = str(path)
    y, se, n = [], [], []
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        for col in ("study", "treatment"):
            if not rec[col]:
                raise EvidenceError("value is required but empty", file=name, row=row, column=col, fix=f"fill in '{col}'")
        y.append(parse_number(rec["y"], Cell(name, row, "y")))
        se.append(parse_number(rec["se"], Cell(name, row, "se"), positive=True))
        n.append(parse_number(rec["n"], Cell(name, row, "n"), positive=True, integer=True))
    frame["y"], frame["se"], frame["n"] = y, se, n
    check_contrasts(frame, name)
    _check_covariance(frame, name)
    return frame.drop(columns=[ROW])
