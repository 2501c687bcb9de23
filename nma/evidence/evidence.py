"""The evidence layer: load and validate what trials report, typed exactly as reported.

Three files make the evidence base (see data/README.md):

* ``treatments.csv`` — one row per regimen (id, label, components, mechanism, dual blockade);
* ``sources.csv`` — one row per publication or document a number came from;
* ``evidence.csv`` — one row per trial x analysis x outcome x population x arm x source.

Derived values (log-HR, its SE) are computed here and never typed in.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nma.constants import (
    ARM_ROLES,
    MECHANISMS,
    OUTCOMES,
    SETTINGS,
    SOURCE_KINDS,
    TIME_TO_EVENT,
)
from nma.core.ratios import (  # noqa: F401  (z_for_level, se_from_ci, the thresholds: re-exported)
    GROSS_ASYMMETRY,
    ONE_SIDED,
    P_VALUE_FACTOR,
    check_ci,
    check_level,
    check_p_against_ci,
    se_from_ci,
    z_for_level,
)
from nma.core.ratios import parse_p as _parse_p
from nma.core.tables import (
    ROW,
    Cell,
    decimals,
    parse_bool,
    parse_choice,
    parse_number,
    read_csv_strict,
)
from nma.errors import EvidenceError, EvidenceWarning

TREATMENT_COLUMNS = ("id", "label", "components", "mechanism", "dual_blockade")
SOURCE_COLUMNS = ("source_id", "citation", "year", "url", "doi", "kind")
SOURCE_OPTIONAL = ("note",)

#: Identity and provenance of a row. Every row needs all of them except data_cut and outcome_definition.
KEY_COLUMNS = ("trial", "analysis", "data_cut", "setting", "outcome", "outcome_definition", "population", "arm", "arm_role")
NUMERIC_COLUMNS = ("n", "events", "hr", "ci_lower", "ci_upper", "ci_level", "median_months",
                   "rate_percent", "rate_time_months", "responders")
EVIDENCE_COLUMNS = KEY_COLUMNS + NUMERIC_COLUMNS + ("p_value", "comparator", "source_id", "location")
EVIDENCE_OPTIONAL = ("note",)

#: Preference among sources reporting the same analysis: primary publications first, the design document last.
SOURCE_RANK = {kind: i for i, kind in enumerate(SOURCE_KINDS)}


@dataclass(frozen=True)
class Evidence:
    """The validated evidence base. Frames hold parsed values plus `_row` (spreadsheet row) for messages."""

    rows: pd.DataFrame
    treatments: pd.DataFrame
    sources: pd.DataFrame
    path: str

    def __repr__(self) -> str:
        return (f"Evidence({self.rows['trial'].nunique()} trials, {len(self.rows)} rows, "
                f"{len(self.treatments)} treatments, {len(self.sources)} sources, from {self.path!r})")


def load_treatments(path: str | Path) -> pd.DataFrame:
    frame = read_csv_strict(path, required=TREATMENT_COLUMNS)
    name = str(path)
    seen: dict[str, int] = {}
    labels: dict[str, int] = {}
    dual = []
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        tid = rec["id"]
        if not tid:
            raise EvidenceError("treatment id is empty", file=name, row=row, column="id", fix="give every treatment a short id")
        if tid in seen:
            raise EvidenceError(f"duplicate treatment id (also on row {seen[tid]})", file=name, row=row, column="id",
                                value=tid, fix="each treatment id must appear once")
        seen[tid] = row
        norm = " ".join(rec["label"].lower().split())
        if norm in labels:
            raise EvidenceError(f"treatment label duplicates row {labels[norm]}; the same treatment may be spelled twice",
                                file=name, row=row, column="label", value=rec["label"], fix="merge the two rows into one id")
        labels[norm] = row
        for mech in filter(None, rec["mechanism"].split("+")):
            parse_choice(mech, Cell(name, row, "mechanism"), MECHANISMS)
        dual.append(parse_bool(rec["dual_blockade"], Cell(name, row, "dual_blockade")))
    frame["dual_blockade"] = dual
    return frame


def load_sources(path: str | Path) -> pd.DataFrame:
    frame = read_csv_strict(path, required=SOURCE_COLUMNS, optional=SOURCE_OPTIONAL)
    name = str(path)
    seen: dict[str, int] = {}
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        sid = rec["source_id"]
        if not sid:
            raise EvidenceError("source_id is empty", file=name, row=row, column="source_id", fix="give every source a short id")
        if sid in seen:
            raise EvidenceError(f"duplicate source_id (also on row {seen[sid]})", file=name, row=row, column="source_id",
                                value=sid, fix="each source must appear once")
        seen[sid] = row
        if not rec["citation"]:
            raise EvidenceError("citation is empty", file=name, row=row, column="citation", fix="cite the source")
        parse_number(rec["year"], Cell(name, row, "year"), integer=True)
        if not (rec["url"] or rec["doi"]):
            raise EvidenceError("source has neither url nor doi", file=name, row=row, column="url",
                                fix="give a URL or DOI so a reviewer can find the source")
        parse_choice(rec["kind"], Cell(name, row, "kind"), SOURCE_KINDS)
    return frame


def load_evidence(path: str | Path, treatments: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Parse and validate evidence rows; returns a frame with numeric columns as floats (NaN = not reported)."""
    frame = read_csv_strict(path, required=EVIDENCE_COLUMNS, optional=EVIDENCE_OPTIONAL)
    name = str(path)
    treatment_ids = tuple(treatments["id"])
    source_ids = tuple(sources["source_id"])
    parsed: list[dict] = []
    seen: dict[tuple, int] = {}
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        cell = lambda col: Cell(name, row, col)  # noqa: E731
        for col in ("trial", "analysis", "population", "arm", "source_id", "location"):
            if not rec[col]:
                raise cell(col).error("value is required but empty", fix=f"fill in '{col}' (see data/README.md)")
        parse_choice(rec["setting"], cell("setting"), SETTINGS)
        parse_choice(rec["outcome"], cell("outcome"), OUTCOMES)
        parse_choice(rec["arm_role"], cell("arm_role"), ARM_ROLES)
        parse_choice(rec["arm"], cell("arm"), treatment_ids)
        parse_choice(rec["comparator"], cell("comparator"), treatment_ids, required=False)
        parse_choice(rec["source_id"], cell("source_id"), source_ids)
        out = dict(rec)
        out["n"] = parse_number(rec["n"], cell("n"), positive=True, integer=True)
        out["events"] = parse_number(rec["events"], cell("events"), nonnegative=True, integer=True)
        out["responders"] = parse_number(rec["responders"], cell("responders"), nonnegative=True, integer=True)
        out["median_months"] = parse_number(rec["median_months"], cell("median_months"), positive=True)
        out["rate_percent"] = parse_number(rec["rate_percent"], cell("rate_percent"), nonnegative=True)
        out["rate_time_months"] = parse_number(rec["rate_time_months"], cell("rate_time_months"), positive=True)
        out["rate_decimals"] = decimals(rec["rate_percent"]) if rec["rate_percent"] else np.nan  # precision as printed
        for count in ("events", "responders"):
            if not math.isnan(out[count]) and not math.isnan(out["n"]) and out[count] > out["n"]:
                raise cell(count).error(f"{count} ({rec[count]}) exceed n ({rec['n']})", fix="check both numbers against the source")
        if not math.isnan(out["rate_percent"]) and out["rate_percent"] > 100:
            raise cell("rate_percent").error("a percentage cannot exceed 100", value=rec["rate_percent"],
                                             fix="type the rate in percent, e.g. 87.2")
        _parse_hr(rec, out, cell)
        if rec["p_value"]:
            _parse_p(rec["p_value"], cell("p_value"))
        key = (rec["trial"], rec["analysis"], rec["outcome"], rec["outcome_definition"], rec["population"], rec["arm"], rec["source_id"])
        if key in seen:
            raise cell("arm").error(f"duplicate row: same trial, analysis, outcome, definition, population, arm and source as row {seen[key]}",
                                    fix="delete one of the rows, or distinguish them by analysis or population")
        seen[key] = row
        parsed.append(out)
    rows = pd.DataFrame(parsed)
    for col in (*NUMERIC_COLUMNS, "rate_decimals"):
        rows[col] = rows[col].astype(float)
    _check_groups(rows, name)
    return rows


def _parse_hr(rec: dict, out: dict, cell) -> None:
    """HR, CI and CI level come together; check their consistency and the CI's log-symmetry."""
    hr = parse_number(rec["hr"], cell("hr"), positive=True)
    lower = parse_number(rec["ci_lower"], cell("ci_lower"), positive=True)
    upper = parse_number(rec["ci_upper"], cell("ci_upper"), positive=True)
    level = parse_number(rec["ci_level"], cell("ci_level"))
    out.update(hr=hr, ci_lower=lower, ci_upper=upper, ci_level=level)
    if math.isnan(hr):
        for col in ("ci_lower", "ci_upper", "ci_level", "comparator"):
            if rec[col]:
                raise cell(col).error(f"'{col}' is given but 'hr' is empty", fix="type the HR as well, or clear this cell")
        return
    if math.isnan(lower) != math.isnan(upper):
        missing = "ci_upper" if math.isnan(upper) else "ci_lower"
        raise cell(missing).error("a CI needs both bounds", fix=f"type '{missing}' as the source reports it, or clear the other bound")
    if not math.isnan(level) and math.isnan(lower):
        raise cell("ci_level").error("'ci_level' is given but the CI bounds are empty", fix="type the bounds, or clear ci_level")
    if not rec["comparator"]:
        raise cell("comparator").error("an HR needs the arm it is compared against", fix="type the comparator arm's treatment id")
    if rec["comparator"] == rec["arm"]:
        raise cell("comparator").error("an arm cannot be compared with itself", value=rec["comparator"], fix="name the other arm")
    check_level(level, rec["ci_level"], cell("ci_level"))
    if math.isnan(lower):
        return  # an HR reported without its CI is kept as reported, but cannot enter a network
    texts = (rec["hr"], rec["ci_lower"], rec["ci_upper"])
    check_ci(hr, lower, upper, texts, cell, code="HR", column="hr", stacklevel=3)
    if rec["p_value"] and not math.isnan(level):
        check_p_against_ci(rec["p_value"], hr, lower, upper, level, texts, cell, code="HR", stacklevel=3)


GROUP = ("trial", "analysis", "outcome", "outcome_definition", "population", "source_id")


def _check_groups(rows: pd.DataFrame, name: str) -> None:
    """Checks across the arms of one reported analysis: roles, comparators, HR direction against medians
    (only when the CI excludes 1: otherwise medians in either order are compatible with the HR).

    On plain records grouped in a dict: pandas' per-group overhead made this 1.8 s of every run (200 groups)."""
    groups: dict[tuple, list[dict]] = {}
    for rec in rows.to_dict("records"):
        groups.setdefault(tuple(rec[c] for c in GROUP), []).append(rec)
    for key, group in groups.items():
        first = int(min(r[ROW] for r in group))
        label = f"trial {key[0]}, analysis {key[1]}, outcome {key[2]}, population {key[4]}, source {key[5]}"
        for col in ("setting", "data_cut"):
            values = {r[col] for r in group if not _missing(r[col])}
            if len(values) > 1:
                raise EvidenceError(f"arms of {label} disagree on {col}: {sorted(values)}", file=name,
                                    row=first, column=col, fix=f"one reported analysis has one {col}")
        arms = {r["arm"] for r in group}
        with_hr = [r for r in group if not _missing(r["hr"])]
        for rec in with_hr:
            if rec["comparator"] not in arms:
                raise EvidenceError(f"comparator '{rec['comparator']}' has no row in {label}", file=name, row=rec[ROW],
                                    column="comparator", fix="add a row for the comparator arm (with its n) or correct the id")
        controls = [r for r in group if r["arm_role"] == "control"]
        if with_hr and len(controls) != 1:
            at = (controls or group)[0]
            raise EvidenceError(f"{label} has {len(controls)} control arms; an analysis that reports HRs needs exactly one, "
                                "the reference of its contrasts", file=name, row=int(at[ROW]), column="arm_role",
                                value=at["arm_role"], fix="mark the arm the HRs are against as control and the others as experimental")
        if rec_bad := _direction_conflict(group, with_hr):
            warnings.warn(f"{name}, row {rec_bad[ROW]}: HR {rec_bad['hr']:g} for {rec_bad['arm']} vs "
                          f"{rec_bad['comparator']} disagrees in direction with the medians; check whether the source "
                          f"(or a secondary source) prints the HR inverted", EvidenceWarning, stacklevel=3)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _direction_conflict(group: list[dict], with_hr: list[dict]) -> dict | None:
    medians = {r["arm"]: r["median_months"] for r in group}
    for rec in with_hr:
        if rec["outcome"] not in TIME_TO_EVENT:
            continue
        mine, theirs = medians.get(rec["arm"], np.nan), medians.get(rec["comparator"], np.nan)
        if _missing(mine) or _missing(theirs) or mine == theirs or rec["hr"] == 1:
            continue
        if rec["ci_lower"] <= 1 <= rec["ci_upper"]:
            continue  # a CI that includes 1 is compatible with medians in either order
        if (rec["hr"] < 1) != (mine > theirs):
            return rec
    return None


def usable_hr(rows: pd.DataFrame) -> pd.Series:
    """Rows whose HR can enter a network: the HR with both CI bounds and the CI level."""
    return rows[["hr", "ci_lower", "ci_upper", "ci_level"]].notna().all(axis=1)


def load(data_dir: str | Path = "data", evidence_file: str | Path | None = None) -> Evidence:
    """Load treatments.csv, sources.csv and an evidence file (default data_dir/evidence.csv)."""
    data_dir = Path(data_dir)
    treatments = load_treatments(data_dir / "treatments.csv")
    sources = load_sources(data_dir / "sources.csv")
    path = Path(evidence_file) if evidence_file else data_dir / "evidence.csv"
    rows = load_evidence(path, treatments, sources)
    return Evidence(rows=rows, treatments=treatments, sources=sources, path=str(path))
