"""A user's ratio CSV (study, treatment, hr|or|rr|ratio, ci_lower, ci_upper[, ci_level, p_value, n, events]) and
an optional treatments CSV (id, label[, description]): read strictly, every error naming its file, row and column.

The ratios are typed exactly as a publication prints them; nma.core.ratios derives the log-ratio and its SE
with the checks data/ has. A file saved by Excel as 'CSV UTF-8' (with a byte-order mark) is accepted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from nma.core.measures import Measure, measure_of
from nma.core.ratios import (
    RATIO_COLUMN_CODES,
    RATIO_OPTIONAL,
    RATIO_REQUIRED,
    contrasts_from_ratios,
    ratio_column,
)
from nma.core.tables import ROW, read_csv_strict
from nma.core.validation import PROVENANCE
from nma.errors import EvidenceError, ModelSpecError

TREATMENT_LABEL_COLUMNS = ("id", "label")
TREATMENT_LABEL_OPTIONAL = ("description",)


def _header(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    return [h.strip() for h in next(csv.reader(io.StringIO(text, newline="")), [])]   # CR, LF or CRLF


def read_ratios(path: str | Path, measure: str | Measure = "HR", covariates: tuple[str, ...] = ()) -> pd.DataFrame:
    """The ratio CSV as strings with a `_row` column (spreadsheet row), after the file-level checks."""
    path = Path(path)
    measure = measure_of(measure, "[data] measure")
    if not measure.is_ratio:
        raise ModelSpecError(f"{path}: measure {measure.code} ({measure.name}) is a difference, not a ratio. Fix: give "
                             f"the differences and their SEs as a contrasts file ([data] contrasts = \"...\" with "
                             f"measure = \"{measure.code}\"), or set [data] measure to HR, OR, RR or RaR")
    names = (*RATIO_COLUMN_CODES, "ratio")
    frame = read_csv_strict(path, required=RATIO_REQUIRED, optional=(*names, *RATIO_OPTIONAL, *PROVENANCE, *covariates),
                            allow_bom=True)
    col = ratio_column(_header(path), measure, str(path), lambda c: {"row": 1, "column": c})
    return frame.drop(columns=[c for c in names if c != col])


def load_ratios(path: str | Path, measure: str | Measure = "HR", covariates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read and validate a ratio CSV; returns the canonical contrast table (y = log ratio, se from the CI) with
    the ratio, CI and provenance columns kept beside it for the report, and the `covariates` columns (text) a
    meta-regression reads."""
    frame = read_ratios(path, measure, covariates)
    out = contrasts_from_ratios(frame, measure_of(measure), str(path))
    for col in (*PROVENANCE, *covariates):
        if col in frame and (frame[col] != "").any():
            out[col] = frame[col].to_numpy()
    return out.drop(columns=ROW)


def load_treatment_labels(path: str | Path) -> pd.DataFrame:
    """A treatments CSV (id, label[, description]): one row per treatment id, unique ids and labels."""
    frame = read_csv_strict(path, required=TREATMENT_LABEL_COLUMNS, optional=TREATMENT_LABEL_OPTIONAL, allow_bom=True)
    name = str(path)
    seen: dict[str, int] = {}
    labels: dict[str, int] = {}
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        for col in ("id", "label"):
            if not rec[col]:
                raise EvidenceError("value is required but empty", file=name, row=row, column=col,
                                    fix=f"give every treatment its {col}")
        if rec["id"] in seen:
            raise EvidenceError(f"duplicate treatment id (also on row {seen[rec['id']]})", file=name, row=row, column="id",
                                value=rec["id"], fix="each treatment id must appear once")
        seen[rec["id"]] = row
        key = " ".join(rec["label"].lower().split())
        if key in labels:
            raise EvidenceError(f"label duplicates row {labels[key]}: two treatments would print the same", file=name,
                                row=row, column="label", value=rec["label"], fix="give distinct treatments distinct labels")
        labels[key] = row
    return frame.drop(columns=ROW)
