"""Trial characteristics: every validation error by its message, the wide table and the flags on
hand-made frames, and the shipped data/characteristics.csv."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import ROOT, SOURCES, set_cell, write_data

from nma.core.tables import read_csv_strict
from nma.errors import EvidenceError
from nma.evidence.characteristics import (
    CHARACTERISTICS,
    FOLLOWUP_ALL,
    characteristics_for,
    characteristics_table,
    flag_differences,
    load_characteristics,
)

SOURCES2 = SOURCES + "s2,News B. A summary.,2021,https://example.org/b,,secondary_summary\n"
CHARS = """trial,characteristic,value,analysis,source_id,location,note
T1,phase,3,,s1,Abstract,
T1,hr_positive_percent,47.3,,s1,Table 1,
T1,median_followup_months,19.3,primary,s1,Results,
T2,primary_endpoint,pfs+os,,s1,Methods,
T2,her2_testing,central,,s2,Summary,
T2,n_randomised,600,,s1,Abstract,
"""


def _data(tmp_path, chars: str = CHARS):
    folder = write_data(tmp_path / "d", sources=SOURCES2)
    (folder / "characteristics.csv").write_text(chars, encoding="utf-8")
    return folder


def test_valid_file_loads(tmp_path):
    chars = load_characteristics(_data(tmp_path))
    assert len(chars) == 6
    assert chars.loc[chars["characteristic"] == "hr_positive_percent", "number"].item() == 47.3
    assert math.isnan(chars.loc[chars["characteristic"] == "phase", "number"].item())
    assert list(chars["source_kind"]) == ["journal_article"] * 4 + ["secondary_summary", "journal_article"]


def test_missing_file_gives_empty_table(tmp_path):
    folder = write_data(tmp_path / "d")
    chars = load_characteristics(folder)
    assert chars.empty and "trial" in chars.columns
    table = characteristics_table(chars, ["T1", "T2"])
    assert list(table.index) == ["T1", "T2"] and table["phase"].isna().all()


ERRORS = [
    # (line, column, value, message fragment naming file, row and column)
    (2, "trial", "T9", r"characteristics.csv, row 2, column 'trial': trial is not in evidence.csv"),
    (2, "trial", "", r"characteristics.csv, row 2, column 'trial': value is required but empty"),
    (2, "characteristic", "phasee", r"characteristics.csv, row 2, column 'characteristic': unknown value; did you mean 'phase'"),
    (2, "value", "III", r"characteristics.csv, row 2, column 'value': unknown value.*Fix: use one of: 2, 3, 2/3"),
    (3, "value", "47.3%", r"characteristics.csv, row 3, column 'value': not a number"),
    (3, "value", "147.3", r"characteristics.csv, row 3, column 'value': hr_positive_percent must lie between 0 and 100"),
    (3, "value", "-1", r"characteristics.csv, row 3, column 'value': hr_positive_percent must lie between 0 and 100"),
    (3, "value", "", r"characteristics.csv, row 3, column 'value': value is required but empty"),
    (4, "value", "0", r"characteristics.csv, row 4, column 'value': must be greater than 0"),
    (4, "analysis", "", r"characteristics.csv, row 4, column 'analysis': a median follow-up belongs to a data cut.*Fix: use the analysis of T1"),
    (4, "analysis", "final", r"characteristics.csv, row 4, column 'analysis': T1 has no such analysis in evidence.csv.*Fix: use one of: primary"),
    (5, "value", "pfs+survival", r"characteristics.csv, row 5, column 'value': unknown value"),
    (6, "value", "locally", r"characteristics.csv, row 6, column 'value': unknown value; did you mean 'local'"),
    (6, "source_id", "s3", r"characteristics.csv, row 6, column 'source_id': unknown value"),
    (6, "location", "", r"characteristics.csv, row 6, column 'location': value is required but empty"),
    (7, "value", "600.5", r"characteristics.csv, row 7, column 'value': must be a whole number"),
]


@pytest.mark.parametrize("line, column, value, message", ERRORS)
def test_validation_errors(tmp_path, line, column, value, message):
    with pytest.raises(EvidenceError, match=message) as info:
        load_characteristics(_data(tmp_path, set_cell(CHARS, line, column, value)))
    assert info.value.fix


def test_duplicate_row(tmp_path):
    chars = CHARS + "T1,phase,2,,s1,Methods,\n"
    with pytest.raises(EvidenceError, match=r"row 8, column 'value': duplicate row: .* as row 2"):
        load_characteristics(_data(tmp_path, chars))


def test_unknown_column(tmp_path):
    chars = CHARS.replace("location,note", "location,notes")
    with pytest.raises(EvidenceError, match=r"characteristics.csv, row 1, column 'notes': unknown column; did you mean 'note'"):
        load_characteristics(_data(tmp_path, chars))


# ---- table and flags ------------------------------------------------------------------------
def _long(rows):
    """A loaded-looking frame from (trial, characteristic, value, analysis, source_kind) tuples."""
    frame = pd.DataFrame(rows, columns=["trial", "characteristic", "value", "analysis", "source_kind"])
    numeric = {c.name for c in CHARACTERISTICS if c.kind in ("percent", "months", "count")}
    frame["number"] = [float(v) if c in numeric else math.nan for c, v in zip(frame["characteristic"], frame["value"])]
    frame["_row"] = range(2, 2 + len(frame))
    return frame


def test_table_picks_latest_followup_and_preferred_source():
    chars = _long([
        ("A", "median_followup_months", "19.3", "primary", "journal_article"),
        ("A", "median_followup_months", "99.9", "end_of_study", "secondary_summary"),
        ("A", "median_followup_months", "50", "final_os", "journal_article"),
        ("A", "hr_positive_percent", "48", "", "secondary_summary"),
        ("A", "hr_positive_percent", "47.3", "", "journal_article"),   # publication beats summary
        ("B", "phase", "3", "", "conference_abstract"),
        ("C", "phase", "2", "", "journal_article"),                    # not in the network
    ])
    table = characteristics_table(chars, ["B", "A", "D"])
    assert list(table.index) == ["B", "A", "D"]
    assert table.at["A", "median_followup_months"] == 99.9
    assert table.at["A", FOLLOWUP_ALL] == "primary: 19.3; final_os: 50; end_of_study: 99.9"
    assert table.at["A", "hr_positive_percent"] == 47.3
    assert table.at["B", "phase"] == "3" and pd.isna(table.at["A", "phase"])
    assert table.loc["D"].isna().all()
    assert table["hr_positive_percent"].dtype == float


def test_flags_hand_computed():
    table = pd.DataFrame({
        # modal value "3" (2 of 3): only the phase-2 trial is flagged
        "phase": ["3", "3", "2", None],
        # median of 50, 60, 66 = 60: |50-60| = 10 and |66-60| = 6 are within 15 points; 80 -> median of
        # 50, 60, 66, 80 = 63: |80-63| = 17 > 15 flagged, |50-63| = 13 not
        "hr_positive_percent": [50.0, 60.0, 66.0, 80.0],
        # median of 10, 20, 45 = 20; 45 > 2 x 20 flagged, 10 = 20 / 2 is on the bound, not flagged
        "median_followup_months": [10.0, 20.0, 45.0, math.nan],
        # two values tied for the mode: no majority, both flagged; missing never
        "her2_testing": ["central", "local", None, None],
        # a single value: nothing to compare with
        "brain_metastases_percent": [math.nan, 30.0, math.nan, math.nan],
        "n_randomised": [100.0, 1000.0, 5000.0, 10.0],
    }, index=["A", "B", "C", "D"])
    flags = flag_differences(table)
    assert flags["phase"].tolist() == [False, False, True, False]
    assert flags["hr_positive_percent"].tolist() == [False, False, False, True]
    assert flags["median_followup_months"].tolist() == [False, False, True, False]
    assert flags["her2_testing"].tolist() == [True, True, False, False]
    assert not flags["brain_metastases_percent"].any()
    assert not flags["n_randomised"].any()
    assert (flags.dtypes == bool).all()


def test_characteristics_for(tmp_path):
    table, flags = characteristics_for(_data(tmp_path), ["T1", "T2"])
    assert table.at["T1", "phase"] == "3" and table.at["T2", "primary_endpoint"] == "pfs+os"
    assert table.at["T1", "median_followup_months"] == 19.3
    assert flags.shape == table.shape and not flags.to_numpy().any()


# ---- the shipped file -----------------------------------------------------------------------
def test_shipped_characteristics_load():
    chars = load_characteristics(ROOT / "data")
    assert len(chars) > 0
    evidence = ROOT / "data" / "evidence.csv"
    header = evidence.read_text(encoding="utf-8").splitlines()[0].split(",")
    evidence_trials = set(read_csv_strict(evidence, required=("trial",), optional=tuple(header[1:]))["trial"])
    assert set(chars["trial"]) <= evidence_trials
    table = characteristics_table(chars, sorted(set(chars["trial"])))
    assert flag_differences(table).shape == table.shape
