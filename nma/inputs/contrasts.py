"""A user's contrast CSV (study, treatment, y, se[, n]): read strictly, every error naming its file, row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nma.core.measures import MEASURES, Measure, measure_of
from nma.core.ratios import warn_if_ratio_like
from nma.core.tables import ROW, Cell, parse_number, read_csv_strict
from nma.core.validation import (
    CONTRAST_COLUMNS,
    CONTRAST_OPTIONAL,
    PROVENANCE,
    _check_covariance,
    check_contrasts,
)
from nma.errors import EvidenceError

#: Largest |y| and se on a log-ratio scale: a log hazard (odds, risk) ratio of 50 is a ratio of 5e21, and an SE of
#: 50 a 95% interval spanning e^196; no trial reports either, so such a value is a typo or a ratio typed unlogged.
LOG_SCALE_LIMIT = 50.0
#: Smallest se on a log-ratio scale: 1e-4 would need about 400 million events (se ~ sqrt(4 / events)).
LOG_SCALE_MIN_SE = 1e-4
#: On a difference scale (MD, SMD, RD) the size depends on the outcome's units; beyond these bounds a value is a
#: typo or a unit error, and its square (the likelihood's precision) loses all accuracy.
DIFFERENCE_LIMIT = 1e6
DIFFERENCE_MIN_SE = 1e-6
#: Largest n of an arm: more patients than any trial has randomised (the 1954 polio vaccine trial had 1.8 million).
MAX_PATIENTS = 1e8


def load_contrasts(path: str | Path, *, measure: str | Measure | None = None,
                   covariates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read and validate a contrast CSV in the canonical format.

    `measure` (default: a ratio measure, log scale, as `Network.from_contrasts` defaults to HR) sets the plausible
    size of y and se: |y| <= 50 and 1e-4 <= se <= 50 on a log-ratio scale, |y| <= 1e6 and 1e-6 <= se <= 1e6 on a
    difference scale; anything beyond is refused with its file, row and column. A spreadsheet's CSV (UTF-8 with a
    byte-order mark, CRLF line endings) is read as it is. `covariates`: extra columns a meta-regression reads (kept
    as text; [model.regression] covariate)."""
    frame = read_csv_strict(path, required=CONTRAST_COLUMNS, optional=CONTRAST_OPTIONAL + PROVENANCE + tuple(covariates),
                            allow_bom=True)
    name = str(path)
    scale = measure_of(measure) if measure is not None else MEASURES["HR"]
    y, se, n = [], [], []
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        for col in ("study", "treatment"):
            if not rec[col]:
                raise EvidenceError("value is required but empty", file=name, row=row, column=col, fix=f"fill in '{col}'")
        y.append(parse_number(rec["y"], Cell(name, row, "y")))
        se.append(parse_number(rec["se"], Cell(name, row, "se"), positive=True))
        n.append(parse_number(rec["n"], Cell(name, row, "n"), positive=True, integer=True))
        _check_size(y[-1], se[-1], n[-1], rec, Cell(name, row, ""), scale)
    frame["y"], frame["se"], frame["n"] = y, se, n
    check_contrasts(frame, name)
    _check_covariance(frame, name)
    warn_if_ratio_like(frame["y"], scale, name, stacklevel=2)   # HRs typed into y by mistake
    return frame.drop(columns=[ROW])


def _check_size(y: float, se: float, n: float, rec: dict, where: Cell, measure: Measure) -> None:
    """Refuse a finite y, se or n too large (or an se too small) to be a real trial's result on the measure's scale."""
    limit, min_se = (LOG_SCALE_LIMIT, LOG_SCALE_MIN_SE) if measure.is_ratio else (DIFFERENCE_LIMIT, DIFFERENCE_MIN_SE)
    scale = measure.model_scale
    unit = ("a ratio typed instead of its log, or a typo" if measure.is_ratio else
            "a typo, or the outcome in too small a unit")
    cell = lambda col: Cell(where.file, where.row, col)
    if abs(y) > limit:
        raise cell("y").error(f"|y| = {abs(y):g} is beyond {limit:g}, implausible for a {scale}", value=rec["y"],
                              fix=f"y is on the model scale ({scale}); check the value: it looks like {unit}")
    if se > limit:
        raise cell("se").error(f"se = {se:g} is beyond {limit:g}, implausible for a {scale}", value=rec["se"],
                               fix=f"se is the standard error of y ({scale}); check the value: it looks like {unit}")
    if se < min_se:
        raise cell("se").error(f"se = {se:g} is below {min_se:g}, implausibly precise for a {scale}", value=rec["se"],
                               fix="check the value (se is a standard error, not a variance or a p-value)")
    if n > MAX_PATIENTS:
        raise cell("n").error(f"n = {n:g} patients is more than any trial has randomised", value=rec["n"],
                              fix="type the number of patients in the arm")
