"""Trial characteristics, for judging transitivity (after BUGSnet's network characteristics table).

An indirect comparison A vs C through B is only as good as the similarity of the A-B and B-C trials in the
things that modify the treatment effect: line of therapy, HR status, prior anti-HER2 exposure, brain
metastases, who assessed the endpoint, how long patients were followed. ``data/characteristics.csv`` holds
what each trial reports about these, in long format with a source and location for every value (see
data/README.md); this module loads and validates it, pivots it to one row per trial of a network, and marks
the cells that stand out from the rest of the network.

Pure pandas: no PyMC here, so the report and ``nma check`` can use it cheaply.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nma.constants import OUTCOMES, SETTINGS, SOURCE_KINDS
from nma.core.tables import (
    ROW,
    Cell,
    closest,
    parse_choice,
    parse_number,
    read_csv_strict,
)
from nma.evidence.evidence import EVIDENCE_COLUMNS, EVIDENCE_OPTIONAL, load_sources

FILE_NAME = "characteristics.csv"
CHARACTERISTIC_COLUMNS = ("trial", "characteristic", "value", "analysis", "source_id", "location")
CHARACTERISTIC_OPTIONAL = ("note",)


@dataclass(frozen=True)
class Characteristic:
    """One characteristic: its kind decides how a value is parsed and when it counts as different."""

    name: str
    kind: str  # "text", "choice", "endpoint" (outcome ids joined by +), "percent", "months", "count"
    options: tuple[str, ...] = ()


#: The vocabulary, in the column order of the wide table. Closed vocabularies where free text would make
#: equal things look different (and so be flagged); free text where sources word criteria in their own way.
CHARACTERISTICS = (
    Characteristic("phase", "choice", ("2", "3", "2/3")),
    Characteristic("setting", "choice", SETTINGS),
    Characteristic("line_of_therapy", "text"),
    Characteristic("her2_eligibility", "text"),
    Characteristic("her2_testing", "choice", ("central", "local")),
    Characteristic("response_criteria", "text"),
    # Outcome ids of evidence.csv plus "ttp": older trials (EGF100151) used time to progression.
    Characteristic("primary_endpoint", "endpoint", OUTCOMES + ("ttp",)),
    Characteristic("primary_endpoint_assessor", "choice", ("investigator", "independent_review")),
    Characteristic("median_followup_months", "months"),
    Characteristic("hr_positive_percent", "percent"),
    Characteristic("prior_trastuzumab_percent", "percent"),
    Characteristic("prior_pertuzumab_percent", "percent"),
    Characteristic("brain_metastases_percent", "percent"),
    Characteristic("visceral_disease_percent", "percent"),
    Characteristic("n_randomised", "count"),
)
BY_NAME = {c.name: c for c in CHARACTERISTICS}
NUMERIC_KINDS = ("percent", "months", "count")
FOLLOWUP = "median_followup_months"
#: Extra text column of the wide table: every analysis's follow-up, so the choice of "latest" is visible.
FOLLOWUP_ALL = "median_followup_by_analysis"

#: A percentage this many points from the network median is flagged (a 15-point difference in, e.g., the
#: HR-positive share is large enough to change a pooled effect if HR status modifies it).
PERCENT_POINTS = 15.0
#: A median follow-up outside [median / factor, median x factor] is flagged: HRs from a cut at twice (or
#: half) the follow-up of the rest may not share one proportional-hazards effect.
FOLLOWUP_FACTOR = 2.0

SOURCE_RANK = {kind: i for i, kind in enumerate(SOURCE_KINDS)}


def _evidence_trials(path: Path) -> dict[str, set[str]]:
    """Trial -> analyses in evidence.csv, read with the strict reader but without the full (warning) checks."""
    frame = read_csv_strict(path, required=("trial", "analysis"),
                            optional=tuple(c for c in EVIDENCE_COLUMNS + EVIDENCE_OPTIONAL if c not in ("trial", "analysis")))
    out: dict[str, set[str]] = {}
    for trial, analysis in zip(frame["trial"], frame["analysis"]):
        out.setdefault(trial, set()).add(analysis)
    return out


def empty_characteristics() -> pd.DataFrame:
    return pd.DataFrame(columns=list(CHARACTERISTIC_COLUMNS + CHARACTERISTIC_OPTIONAL) + ["number", "source_kind", ROW])


def load_characteristics(evidence_dir: str | Path = "data", path: str | Path | None = None) -> pd.DataFrame:
    """Load and validate characteristics.csv from the evidence folder; a missing file gives an empty table.

    Each row keeps its text ``value``; ``number`` holds the parsed value of the numeric characteristics
    (NaN for text), ``source_kind`` the source's kind (to prefer publications over summaries).
    Raises EvidenceError naming file, row and column, with a fix.
    """
    evidence_dir = Path(evidence_dir)
    path = Path(path) if path is not None else evidence_dir / FILE_NAME
    if not path.is_file():
        return empty_characteristics()
    frame = read_csv_strict(path, required=CHARACTERISTIC_COLUMNS, optional=CHARACTERISTIC_OPTIONAL)
    name = str(path)
    sources = load_sources(evidence_dir / "sources.csv")
    kinds = dict(zip(sources["source_id"], sources["kind"]))
    trials = _evidence_trials(evidence_dir / "evidence.csv")
    parsed: list[dict] = []
    seen: dict[tuple, int] = {}
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        cell = lambda col: Cell(name, row, col)  # noqa: E731
        for col in ("trial", "characteristic", "value", "source_id", "location"):
            if not rec[col]:
                raise cell(col).error("value is required but empty", fix=f"fill in '{col}' (see data/README.md)")
        if rec["trial"] not in trials:
            raise cell("trial").error("trial is not in evidence.csv", value=rec["trial"],
                                      fix=f"spell it as evidence.csv does; {closest(rec['trial'], trials)}")
        char = BY_NAME[parse_choice(rec["characteristic"], cell("characteristic"), tuple(BY_NAME))]
        parse_choice(rec["source_id"], cell("source_id"), tuple(kinds))
        out = dict(rec, number=_parse_value(rec["value"], char, cell("value")), source_kind=kinds[rec["source_id"]])
        if char.name == FOLLOWUP and not rec["analysis"]:
            raise cell("analysis").error("a median follow-up belongs to a data cut, but 'analysis' is empty",
                                         fix=f"use the analysis of {rec['trial']} in evidence.csv: {', '.join(sorted(trials[rec['trial']]))}")
        if rec["analysis"] and rec["analysis"] not in trials[rec["trial"]]:
            raise cell("analysis").error(f"{rec['trial']} has no such analysis in evidence.csv", value=rec["analysis"],
                                         fix=f"use one of: {', '.join(sorted(trials[rec['trial']]))}")
        key = (rec["trial"], rec["characteristic"], rec["analysis"], rec["source_id"])
        if key in seen:
            raise cell("value").error(f"duplicate row: same trial, characteristic, analysis and source as row {seen[key]}",
                                      fix="keep one of the rows (put other wording in 'note')")
        seen[key] = row
        parsed.append(out)
    return pd.DataFrame(parsed, columns=empty_characteristics().columns)


def _parse_value(text: str, char: Characteristic, cell: Cell) -> float:
    """Numeric characteristics must be plain numbers in range; choices must be in their vocabulary."""
    if char.kind == "choice":
        parse_choice(text, cell, char.options)
        return math.nan
    if char.kind == "endpoint":
        for part in text.split("+"):
            parse_choice(part.strip(), cell, char.options)
        return math.nan
    if char.kind == "text":
        return math.nan
    value = parse_number(text, cell, required=True, positive=char.kind in ("months", "count"),
                         integer=char.kind == "count")
    if char.kind == "percent" and not 0 <= value <= 100:
        raise cell.error(f"{char.name} must lie between 0 and 100", value=text,
                         fix="type the percentage of all randomised patients, as printed (e.g. 47.3)")
    return value


def _preferred(group: pd.DataFrame) -> pd.Series:
    """Among sources for one value, the first by source kind (publication before summary), then by row."""
    order = group.assign(_rank=group["source_kind"].map(SOURCE_RANK)).sort_values(["_rank", ROW], kind="stable")
    return order.iloc[0]


def characteristics_table(chars: pd.DataFrame, trials) -> pd.DataFrame:
    """One row per trial (in the order given, including trials with nothing reported), one column per
    characteristic; numeric characteristics as floats, text as str, missing as NaN.

    The median follow-up is the longest one reported (the latest data cut); ``median_followup_by_analysis``
    lists every analysis's follow-up ("primary: 19.3; final_os: 99.9") so a reader can match it to the cut
    the network actually uses.
    """
    trials = list(dict.fromkeys(trials))
    columns = [c.name for c in CHARACTERISTICS] + [FOLLOWUP_ALL]
    table = pd.DataFrame(np.nan, index=pd.Index(trials, name="trial"), columns=columns, dtype=object)
    sub = chars[chars["trial"].isin(trials)]
    for (trial, name), group in sub.groupby(["trial", "characteristic"], sort=False):
        char = BY_NAME[name]
        if name == FOLLOWUP:
            per_cut = [_preferred(g) for _, g in group.groupby("analysis", sort=False)]
            per_cut.sort(key=lambda r: r["number"])
            table.at[trial, name] = float(per_cut[-1]["number"])
            table.at[trial, FOLLOWUP_ALL] = "; ".join(f"{r['analysis']}: {r['value']}" for r in per_cut)
            continue
        best = _preferred(group)
        table.at[trial, name] = float(best["number"]) if char.kind in NUMERIC_KINDS else best["value"]
    for c in CHARACTERISTICS:
        if c.kind in NUMERIC_KINDS:
            table[c.name] = pd.to_numeric(table[c.name], errors="coerce").astype(float)
    return table


def flag_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Booleans, same shape as ``table``: True where a trial differs from the rest of its network enough to
    question transitivity. Missing cells are never flagged, nor is a column with fewer than two values.

    * text and vocabulary columns: a value other than the modal (most common) value of the column; when
      several values tie for the mode there is no majority and every non-missing cell is flagged;
    * percentages: more than ``PERCENT_POINTS`` (15) points from the network median;
    * median follow-up: outside [median / 2, median x 2] (``FOLLOWUP_FACTOR``);
    * ``n_randomised`` and the follow-up listing are descriptive, never flagged (size does not modify effects).
    """
    flags = pd.DataFrame(False, index=table.index, columns=table.columns)
    for col in table.columns:
        char = BY_NAME.get(col)
        if char is None or char.kind == "count":
            continue
        present = table[col].notna()
        if present.sum() < 2:
            continue
        values = table.loc[present, col]
        if char.kind == "percent":
            flags.loc[present, col] = (values.astype(float) - float(values.astype(float).median())).abs() > PERCENT_POINTS
        elif char.kind == "months":
            median = float(values.astype(float).median())
            flags.loc[present, col] = (values.astype(float) > median * FOLLOWUP_FACTOR) | (values.astype(float) < median / FOLLOWUP_FACTOR)
        else:
            counts = values.astype(str).value_counts()
            top = counts[counts == counts.max()]
            flags.loc[present, col] = True if len(top) > 1 else values.astype(str) != top.index[0]
    return flags.astype(bool)


def characteristics_for(evidence_dir: str | Path, trials) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, flags) for the trials of one network: what the HTML report shows next to the network."""
    table = characteristics_table(load_characteristics(evidence_dir), trials)
    return table, flag_differences(table)


# ---- covariates for network meta-regression -------------------------------------------------------------------------
_ANTI_HER2 = re.compile(r"(?<!or )(trastuzumab|HER2-directed|anti-HER2|anti-ERBB2)", re.IGNORECASE)


def _anti_her2_required(line_of_therapy: str) -> float:
    """1 if the trial's eligibility (its typed line_of_therapy) names prior anti-HER2 therapy as required (trastuzumab,
    "HER2-directed", "anti-HER2" or "anti-ERBB2" regimens), 0 otherwise: not named, or optional ("and/or
    trastuzumab", "or trastuzumab")."""
    return 1.0 if _ANTI_HER2.search(line_of_therapy) else 0.0


#: Covariates computed by code from a typed characteristic, never typed themselves: name -> (the characteristic
#: read, the rule, the rule in words for the report).
DERIVED = {
    "anti_her2_pretreatment_required": (
        "line_of_therapy", _anti_her2_required,
        "derived by code from line_of_therapy (data/characteristics.csv): 1 if the trial's eligibility names prior "
        "anti-HER2 therapy (trastuzumab, HER2-directed or anti-ERBB2 regimens) as required, 0 if it does not or makes "
        "it optional ('and/or trastuzumab')"),
}


def covariate_values(evidence_dir: str | Path, trials, name: str) -> tuple[dict[str, float | str], str]:
    """A meta-regression covariate per trial, from characteristics.csv: (trial -> value for the trials that report
    it, how the values were obtained).

    `name` is a characteristic (numeric ones give floats, text and vocabulary ones strings: a categorical
    covariate) or a covariate of `DERIVED`. Trials without a value are absent from the mapping: the caller names them.
    Raises EvidenceError for an unknown name, with the closest suggested.
    """
    from nma.errors import EvidenceError

    trials = list(dict.fromkeys(map(str, trials)))
    table = characteristics_table(load_characteristics(evidence_dir), trials)
    if name in DERIVED:
        column, rule, text = DERIVED[name]
        return {t: rule(str(v)) for t, v in table[column].items() if isinstance(v, str)}, text
    if name not in BY_NAME or BY_NAME[name].kind == "endpoint":
        known = tuple(c.name for c in CHARACTERISTICS if c.kind != "endpoint") + tuple(DERIVED)
        raise EvidenceError(f"unknown covariate {name!r}; {closest(name, known)}",
                            fix=f"use a characteristic of {FILE_NAME} or a derived covariate ({', '.join(DERIVED)})")
    if BY_NAME[name].kind in NUMERIC_KINDS:
        values = {t: float(v) for t, v in table[name].items() if pd.notna(v)}
    else:
        values = {t: str(v) for t, v in table[name].items() if isinstance(v, str)}
    return values, f"{name} as typed in data/{FILE_NAME} (the preferred source of each trial)"
