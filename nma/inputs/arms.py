"""A user's arm-level CSV (study, treatment, r, n): read strictly, every error naming its file, row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nma.core.arms import check_arms
from nma.core.tables import ROW, Cell, parse_number, read_csv_strict
from nma.core.validation import PROVENANCE, check_duplicate_studies
from nma.errors import EvidenceError
from nma.inputs.contrasts import MAX_PATIENTS

ARM_COLUMNS = ("study", "treatment", "r", "n")



def load_arms(path: str | Path) -> pd.DataFrame:
    """Read and validate an arm-level CSV: study, treatment, r (responders), n (patients).

    A spreadsheet's CSV (UTF-8 with a byte-order mark, CRLF line endings) is read as it is."""
    frame = read_csv_strict(path, required=ARM_COLUMNS, optional=PROVENANCE, allow_bom=True)
    name = str(path)
    r, n = [], []
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        for col in ("study", "treatment"):
            if not rec[col]:
                raise EvidenceError("value is required but empty", file=name, row=row, column=col, fix=f"fill in '{col}'")
        r.append(parse_number(rec["r"], Cell(name, row, "r"), nonnegative=True, integer=True, required=True))
        n.append(parse_number(rec["n"], Cell(name, row, "n"), positive=True, integer=True, required=True))
        if n[-1] > MAX_PATIENTS:
            raise EvidenceError(f"n = {n[-1]:g} patients is more than any trial has randomised", file=name, row=row,
                                column="n", value=rec["n"], fix="type the number of patients in the arm")
    frame["r"], frame["n"] = r, n
    check_arms(frame, name)
    check_duplicate_studies(frame, name, ("r", "n"))
    return frame.drop(columns=[ROW])
