"""Strict CSV reading: every cell stays a string until a typed parser converts it, so that errors
can name the file, the row (as a spreadsheet shows it: header = row 1) and the column."""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nma.errors import EvidenceError

#: Column holding the spreadsheet row number of each record (header is row 1).
ROW = "_row"


def folded(text: str) -> str:
    """Case, spaces, '-' and '_' ignored: how two spellings of one id are recognised."""
    return "".join(ch for ch in text.casefold() if ch not in " -_")


def closest(name: str, options) -> str:
    """A 'did you mean' hint, or a list of the valid options."""
    options = list(options)
    match = [o for o in options if folded(o) == folded(name)] or \
        difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else f"valid values are: {', '.join(sorted(options))}"


def read_csv_strict(path: str | Path, *, required: tuple[str, ...], optional: tuple[str, ...] = (),
                    allow_bom: bool = False) -> pd.DataFrame:
    """Read a comma-separated UTF-8 file into a frame of strings with a `_row` column.

    Rejects what pandas would silently accept: a BOM (unless `allow_bom`: a user's file saved by Excel as
    'CSV UTF-8'), other encodings, ragged rows, another delimiter, duplicate or unknown columns, and files
    with no data rows.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise EvidenceError("file not found", file=name, fix="check the path (relative paths are resolved against the config file)")
    raw = path.read_bytes()
    if allow_bom and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw.startswith(b"\xef\xbb\xbf"):
        raise EvidenceError("file starts with a byte-order mark (BOM)", file=name, row=1,
                            fix="save the file as plain UTF-8 without BOM (in Excel: 'CSV UTF-8' adds one; use a text editor)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise EvidenceError(f"not valid UTF-8 at byte {err.start}", file=name, row=line,
                            fix="re-save the file with UTF-8 encoding") from err
    if not text.strip():
        raise EvidenceError("file is empty", file=name, row=1, fix=f"add a header row with the columns {', '.join(required)}")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in rows[0]]
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        raise EvidenceError("the header has a single column; the file seems to use another delimiter",
                            file=name, row=1, value=header[0][:60], fix="use commas as the delimiter")
    seen: set[str] = set()
    for col in header:
        if col in seen:
            raise EvidenceError("duplicate column", file=name, row=1, column=col, fix="remove or rename one of the two columns")
        seen.add(col)
    allowed = set(required) | set(optional)
    for col in header:
        if col not in allowed:
            raise EvidenceError(f"unknown column; {closest(col, allowed)}", file=name, row=1, column=col,
                                fix="rename or delete the column (see data/README.md for the schema)")
    for col in required:
        if col not in header:
            raise EvidenceError("missing required column", file=name, row=1, column=col,
                                fix=f"add the column '{col}' to the header")
    body = [(i + 1, r) for i, r in enumerate(rows) if i > 0 and any(c.strip() for c in r)]
    if not body:
        raise EvidenceError("file has a header but no data rows", file=name, row=1, fix="add at least one data row")
    for line, r in body:
        if len(r) != len(header):
            raise EvidenceError(f"row has {len(r)} fields but the header has {len(header)}", file=name, row=line,
                                fix="check for a missing or extra comma, or quote fields that contain commas")
    frame = pd.DataFrame([[c.strip() for c in r] for _, r in body], columns=header, dtype=object)
    for col in optional:
        if col not in frame:
            frame[col] = ""
    frame[ROW] = [line for line, _ in body]
    return frame


@dataclass(frozen=True)
class Cell:
    """Where a value came from, for error messages."""

    file: str
    row: int
    column: str

    def error(self, message: str, value: object = None, fix: str | None = None) -> EvidenceError:
        return EvidenceError(message, file=self.file, row=self.row, column=self.column, value=value, fix=fix)


def decimals(text: str) -> int:
    """Number of decimals as typed: '0.69' -> 2, '57.1' -> 1, '402' -> 0."""
    text = text.strip().lstrip("<>=≤≥ ")
    if "e" in text.lower():
        return 6
    return len(text.split(".", 1)[1]) if "." in text else 0


#: What a number typed from a publication looks like: ASCII digits, one optional '.', an optional exponent.
PLAIN_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def parse_number(text: str, cell: Cell, *, positive: bool = False, nonnegative: bool = False,
                 integer: bool = False, required: bool = False) -> float:
    """Parse one numeric cell; empty means missing (NaN) unless required."""
    text = text.strip()
    if text == "":
        if required:
            raise cell.error("value is required but empty", fix="type the number as the source reports it")
        return math.nan
    try:
        value = float(text)
        if math.isfinite(value) and not PLAIN_NUMBER.fullmatch(text):
            raise ValueError(text)  # float() also reads '1_000' and non-ASCII digits, which no source prints
    except ValueError:
        raise cell.error("not a number", value=text, fix="type a plain number with '.' as decimal separator and no units or symbols") from None
    if not math.isfinite(value):
        raise cell.error("number is not finite", value=text, fix="type the finite value the source reports, or leave the cell empty")
    if integer and value != int(value):
        raise cell.error("must be a whole number", value=text, fix="type the count as an integer")
    if positive and value <= 0:
        raise cell.error("must be greater than 0", value=text, fix="check the source; hazard ratios, CI bounds and SEs are positive")
    if nonnegative and value < 0:
        raise cell.error("must not be negative", value=text, fix="check the source")
    return value


def parse_choice(text: str, cell: Cell, options, *, required: bool = True) -> str:
    text = text.strip()
    if text == "" and not required:
        return ""
    if text not in options:
        raise cell.error(f"unknown value; {closest(text, options)}", value=text, fix=f"use one of: {', '.join(options)}")
    return text


def parse_bool(text: str, cell: Cell) -> bool:
    low = text.strip().lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    raise cell.error("not a boolean", value=text, fix="use true or false")
