"""Evidence layer: derived SEs against hand computation, and every validation path by its message."""

from __future__ import annotations

import math
import re
import warnings

import pytest
from conftest import EVIDENCE, HEADER, SOURCES, TREATMENTS, set_cell, write_data

from nma.errors import EvidenceError, EvidenceWarning
from nma.evidence.evidence import load, se_from_ci, z_for_level


# ---- derived values -------------------------------------------------------------------------
def test_z_matches_normal_tables():
    # Standard normal table: z(0.975) = 1.959964, z(0.9875) = 2.241403.
    assert z_for_level(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_for_level(0.975) == pytest.approx(2.241403, abs=1e-6)


@pytest.mark.parametrize(
    "lower, upper, level, expected",
    [
        # Worked by hand: ln 0.75 = -0.2876821, ln 0.51 = -0.6733446; 0.3856625 / (2 x 1.959964) = 0.0983851
        (0.51, 0.75, 0.95, 0.0983851),
        # 97.5% CI as MARIANNE/ALTTO report: ln 1.13 = 0.1222176, ln 0.73 = -0.3147107;
        # 0.4369283 / (2 x 2.241403) = 0.0974676
        (0.73, 1.13, 0.975, 0.0974676),
        # CLEOPATRA end-of-study OS: ln 0.82 = -0.1984509, ln 0.58 = -0.5447272; 0.3462763 / 3.919928 = 0.0883374
        (0.58, 0.82, 0.95, 0.0883374),
    ],
)
def test_se_from_ci_hand_computed(lower, upper, level, expected):
    assert se_from_ci(lower, upper, level) == pytest.approx(expected, abs=2e-7)


def test_valid_fixture_loads(data_dir):
    ev = load(data_dir)
    assert len(ev.rows) == 4
    assert ev.rows["hr"].notna().sum() == 2


# ---- every error path -----------------------------------------------------------------------
def _load_evidence(tmp_path, evidence=EVIDENCE, treatments=TREATMENTS, sources=SOURCES):
    return load(write_data(tmp_path / "d", evidence, treatments, sources))


EVIDENCE_ERRORS = [
    # (line, column, value, message fragment)
    (2, "hr", "0", r"row 2, column 'hr': must be greater than 0"),
    (2, "hr", "-0.62", r"row 2, column 'hr': must be greater than 0"),
    (2, "hr", "abc", r"row 2, column 'hr': not a number"),
    (2, "hr", "inf", r"row 2, column 'hr': number is not finite"),
    (2, "hr", "nan", r"row 2, column 'hr': number is not finite"),
    (2, "ci_lower", "0.80", r"row 2, column 'ci_lower': lower bound 0.80 is not below upper bound 0.75.*swapped"),
    (2, "hr", "0.50", r"row 2, column 'hr': HR 0.50 lies outside its CI"),
    (2, "ci_level", "95", r"row 2, column 'ci_level': CI level must be a fraction.*write 0.95"),
    (2, "ci_level", "0", r"row 2, column 'ci_level': CI level must be a fraction"),
    (2, "ci_upper", "", r"row 2, column 'ci_upper': a CI needs both bounds"),
    (2, "ci_lower", "0.52", None),  # still valid: a small change within rounding
    (2, "arm", "D", r"row 2, column 'arm': unknown value"),
    (2, "arm", "b", r"row 2, column 'arm': unknown value"),
    (2, "comparator", "Z", r"row 2, column 'comparator': unknown value"),
    (2, "comparator", "", r"row 2, column 'comparator': an HR needs the arm it is compared against"),
    (2, "comparator", "B", r"row 2, column 'comparator': an arm cannot be compared with itself"),
    (2, "comparator", "C", r"row 2, column 'comparator': comparator 'C' has no row in trial T1"),
    (3, "ci_lower", "0.4", r"row 3, column 'ci_lower': 'ci_lower' is given but 'hr' is empty"),
    (2, "setting", "metastatic", r"row 2, column 'setting': unknown value; did you mean 'metastatic_pretreated'"),
    (2, "outcome", "PFS", r"row 2, column 'outcome': unknown value"),
    (2, "arm_role", "ctrl", r"row 2, column 'arm_role': unknown value"),
    (2, "source_id", "s2", r"row 2, column 'source_id': unknown value"),
    (2, "location", "", r"row 2, column 'location': value is required but empty"),
    (2, "n", "40.5", r"row 2, column 'n': must be a whole number"),
    (2, "n", "0", r"row 2, column 'n': must be greater than 0"),
    (2, "events", "500", r"row 2, column 'events': events \(500\) exceed n \(402\)"),
    (2, "rate_percent", "120", r"row 2, column 'rate_percent': a percentage cannot exceed 100"),
    (2, "p_value", "significant", r"row 2, column 'p_value': p-value is not a number"),
    (2, "p_value", "1.5", r"row 2, column 'p_value': p-value must lie between 0 and 1"),
    (2, "hr", "0.52", r"row 2, column 'hr': HR 0.52 is far from the log-midpoint"),
    (3, "data_cut", "2020-02", r"row 2, column 'data_cut': arms of trial T1.*disagree on data_cut"),
    (3, "setting", "adjuvant", r"row 2, column 'setting': arms of trial T1.*disagree on setting"),
]


@pytest.mark.parametrize("line, column, value, message", EVIDENCE_ERRORS)
def test_evidence_errors_name_file_row_column(tmp_path, line, column, value, message):
    bad = set_cell(EVIDENCE, line, column, value)
    if message is None:
        _load_evidence(tmp_path, bad)
        return
    with pytest.raises(EvidenceError, match=message) as info:
        _load_evidence(tmp_path, bad)
    assert "evidence.csv" in str(info.value)
    assert "Fix:" in str(info.value)


def test_duplicate_row(tmp_path):
    lines = EVIDENCE.strip().split("\n")
    with pytest.raises(EvidenceError, match=r"row 6, column 'arm': duplicate row: .* as row 2"):
        _load_evidence(tmp_path, "\n".join(lines + [lines[1]]) + "\n")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"file is empty"),
        (HEADER.encode() + b"\n", r"row 1: file has a header but no data rows"),
        (b"\xef\xbb\xbf" + EVIDENCE.encode(), r"row 1: file starts with a byte-order mark"),
        (EVIDENCE.encode().replace(b"Table 2", b"Tabl\xe9 2"), r"row 2: not valid UTF-8"),
        (EVIDENCE.replace(",", ";").encode(), r"row 1: the header has a single column; .*another delimiter"),
        (EVIDENCE.replace("Table 3\nT2", "Table 3,extra\nT2").encode(), r"row 4: row has 24 fields but the header has 23"),
        (EVIDENCE.replace("population,arm", "populaton,arm").encode(), r"row 1, column 'populaton': unknown column; did you mean 'population'"),
        (EVIDENCE.replace(",location", ",source_id").replace("Table 2", "s1").replace("Table 3", "s1").encode(),
         r"row 1, column 'source_id': duplicate column"),
    ],
)
def test_malformed_files(tmp_path, content, message):
    folder = write_data(tmp_path / "d")
    (folder / "evidence.csv").write_bytes(content)
    with pytest.raises(EvidenceError, match=message):
        load(folder)


def test_missing_column(tmp_path):
    lines = [",".join(c for i, c in enumerate(line.split(",")) if i != 11) for line in EVIDENCE.strip().split("\n")]
    with pytest.raises(EvidenceError, match=r"row 1, column 'hr': missing required column"):
        _load_evidence(tmp_path, "\n".join(lines) + "\n")


def test_missing_file(tmp_path):
    folder = write_data(tmp_path / "d")
    (folder / "sources.csv").unlink()
    with pytest.raises(EvidenceError, match=r"sources.csv: file not found"):
        load(folder)


@pytest.mark.parametrize(
    "treatments, message",
    [
        (TREATMENTS + "A,Other,x,antibody,false\n", r"row 5, column 'id': duplicate treatment id \(also on row 2\)"),
        (TREATMENTS + "D,trastuzumab  +  docetaxel,x,antibody,false\n", r"row 5, column 'label': .*spelled twice"),
        (TREATMENTS + "D,New,x,antibody,maybe\n", r"row 5, column 'dual_blockade': not a boolean"),
        (TREATMENTS + "D,New,x,vaccine,false\n", r"row 5, column 'mechanism': unknown value"),
    ],
)
def test_treatment_errors(tmp_path, treatments, message):
    with pytest.raises(EvidenceError, match=message):
        _load_evidence(tmp_path, treatments=treatments)


@pytest.mark.parametrize(
    "sources, message",
    [
        (SOURCES + "s1,Again,2020,https://x,,journal_article\n", r"row 3, column 'source_id': duplicate source_id"),
        (SOURCES + "s2,No link,2020,,,journal_article\n", r"row 3, column 'url': source has neither url nor doi"),
        (SOURCES + "s2,Blog,2020,https://x,,blog\n", r"row 3, column 'kind': unknown value"),
        (SOURCES + "s2,,2020,https://x,,journal_article\n", r"row 3, column 'citation': citation is empty"),
    ],
)
def test_source_errors(tmp_path, sources, message):
    with pytest.raises(EvidenceError, match=message):
        _load_evidence(tmp_path, sources=sources)


# ---- warnings -------------------------------------------------------------------------------
def test_asymmetric_ci_beyond_rounding_warns(tmp_path):
    # By hand: ln 0.62 = -0.47804; log-midpoint of (0.51, 0.78) = (-0.67334 - 0.24846) / 2 = -0.46090, so the
    # asymmetry is -0.01714, while rounding to two decimals allows 0.005/0.62 + (0.005/0.51 + 0.005/0.78)/2 = 0.01617.
    bad = set_cell(EVIDENCE, 2, "ci_upper", "0.78")
    with pytest.warns(EvidenceWarning, match=r"row 2: CI \(0.51, 0.78\) is asymmetric"):
        _load_evidence(tmp_path, bad)


def test_symmetric_ci_within_rounding_is_silent(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _load_evidence(tmp_path)


def test_p_value_inconsistent_with_ci_warns(tmp_path):
    bad = set_cell(EVIDENCE, 2, "p_value", "0.20")
    with pytest.warns(EvidenceWarning, match=r"row 2: reported p 0.20 does not match"):
        _load_evidence(tmp_path, bad)


def test_hr_direction_against_medians_warns(tmp_path):
    bad = set_cell(set_cell(EVIDENCE, 2, "median_months", "10.0"), 3, "median_months", "12.4")
    with pytest.warns(EvidenceWarning, match=r"row 2: HR 0.62 for B vs A disagrees in direction with the medians"):
        _load_evidence(tmp_path, bad)


def test_hr_without_ci_is_kept_as_reported(tmp_path):
    text = set_cell(set_cell(set_cell(EVIDENCE, 2, "ci_lower", ""), 2, "ci_upper", ""), 2, "ci_level", "")
    ev = _load_evidence(tmp_path, text)
    assert ev.rows.loc[0, "hr"] == 0.62 and math.isnan(ev.rows.loc[0, "ci_lower"])


def test_error_message_is_readable():
    err = EvidenceError("must be greater than 0", file="data/e.csv", row=7, column="hr", value="0", fix="check it")
    assert re.fullmatch(r"data/e.csv, row 7, column 'hr': must be greater than 0 \(value: '0'\)\. Fix: check it", str(err))
