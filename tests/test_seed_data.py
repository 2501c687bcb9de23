"""Every number of the design document's four tables is in data/, typed as printed, with its source.

The expected values below are typed from `../shared/seeds/000_03f04dced2736eee.txt` (BenchChem, December 2025,
Tables 1-4), independently of data/evidence.csv.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = "seed_benchchem2025"
PFS480 = "pfs_primary_population"

# (trial, outcome, population, arm, column, value as printed)
SEED_TABLE_VALUES = [
    # Table 1: CLEOPATRA
    ("CLEOPATRA", "pfs", "itt", "ptd", "n", "402"), ("CLEOPATRA", "pfs", "itt", "td", "n", "406"),
    ("CLEOPATRA", "pfs", "itt", "ptd", "median_months", "18.7"), ("CLEOPATRA", "pfs", "itt", "td", "median_months", "12.4"),
    ("CLEOPATRA", "pfs", "itt", "ptd", "hr", "0.69"), ("CLEOPATRA", "pfs", "itt", "ptd", "ci_lower", "0.58"),
    ("CLEOPATRA", "pfs", "itt", "ptd", "ci_upper", "0.81"), ("CLEOPATRA", "pfs", "itt", "ptd", "p_value", "<0.001"),
    ("CLEOPATRA", "os", "itt", "ptd", "median_months", "57.1"), ("CLEOPATRA", "os", "itt", "td", "median_months", "40.8"),
    ("CLEOPATRA", "os", "itt", "ptd", "hr", "0.69"), ("CLEOPATRA", "os", "itt", "ptd", "ci_lower", "0.58"),
    ("CLEOPATRA", "os", "itt", "ptd", "ci_upper", "0.82"), ("CLEOPATRA", "os", "itt", "ptd", "p_value", "<0.001"),
    ("CLEOPATRA", "orr", "itt", "ptd", "rate_percent", "80.2"), ("CLEOPATRA", "orr", "itt", "td", "rate_percent", "69.3"),
    ("CLEOPATRA", "dor", "itt", "ptd", "median_months", "20.2"), ("CLEOPATRA", "dor", "itt", "td", "median_months", "12.5"),
    # Table 2: APHINITY, 10-year follow-up
    ("APHINITY", "idfs", "itt", "pt_chemo", "n", "2400"), ("APHINITY", "idfs", "itt", "t_chemo", "n", "2404"),
    ("APHINITY", "idfs", "itt", "pt_chemo", "rate_percent", "87.2"), ("APHINITY", "idfs", "itt", "t_chemo", "rate_percent", "83.8"),
    ("APHINITY", "idfs", "itt", "pt_chemo", "hr", "0.79"), ("APHINITY", "idfs", "itt", "pt_chemo", "ci_lower", "0.68"),
    ("APHINITY", "idfs", "itt", "pt_chemo", "ci_upper", "0.92"),
    ("APHINITY", "os", "itt", "pt_chemo", "rate_percent", "91.6"), ("APHINITY", "os", "itt", "t_chemo", "rate_percent", "89.8"),
    ("APHINITY", "os", "itt", "pt_chemo", "hr", "0.83"), ("APHINITY", "os", "itt", "pt_chemo", "ci_lower", "0.69"),
    ("APHINITY", "os", "itt", "pt_chemo", "ci_upper", "1.00"), ("APHINITY", "os", "itt", "pt_chemo", "p_value", "0.044"),
    # Table 3: HER2CLIMB
    ("HER2CLIMB", "pfs", "itt", "tuc_t_cap", "n", "410"), ("HER2CLIMB", "pfs", "itt", "t_cap", "n", "202"),
    # the PFS results belong to the first 480 randomised (the PFS primary population), the n to all 612 (itt)
    ("HER2CLIMB", "pfs", PFS480, "tuc_t_cap", "median_months", "7.8"), ("HER2CLIMB", "pfs", PFS480, "t_cap", "median_months", "5.6"),
    ("HER2CLIMB", "pfs", PFS480, "tuc_t_cap", "hr", "0.54"), ("HER2CLIMB", "pfs", PFS480, "tuc_t_cap", "ci_lower", "0.42"),
    ("HER2CLIMB", "pfs", PFS480, "tuc_t_cap", "ci_upper", "0.71"), ("HER2CLIMB", "pfs", PFS480, "tuc_t_cap", "p_value", "<0.001"),
    ("HER2CLIMB", "os", "itt", "tuc_t_cap", "median_months", "24.7"), ("HER2CLIMB", "os", "itt", "t_cap", "median_months", "19.2"),
    ("HER2CLIMB", "os", "itt", "tuc_t_cap", "hr", "0.73"), ("HER2CLIMB", "os", "itt", "tuc_t_cap", "ci_lower", "0.59"),
    ("HER2CLIMB", "os", "itt", "tuc_t_cap", "ci_upper", "0.90"),
    ("HER2CLIMB", "cns_pfs", "brain_metastases", "tuc_t_cap", "median_months", "9.9"),
    ("HER2CLIMB", "cns_pfs", "brain_metastases", "t_cap", "median_months", "4.2"),
    ("HER2CLIMB", "cns_pfs", "brain_metastases", "tuc_t_cap", "hr", "0.32"),
    ("HER2CLIMB", "cns_pfs", "brain_metastases", "tuc_t_cap", "ci_lower", "0.22"),
    ("HER2CLIMB", "cns_pfs", "brain_metastases", "tuc_t_cap", "ci_upper", "0.48"),
    ("HER2CLIMB", "cns_pfs", "brain_metastases", "tuc_t_cap", "p_value", "<0.001"),
    ("HER2CLIMB", "os", "brain_metastases", "tuc_t_cap", "median_months", "21.6"),
    ("HER2CLIMB", "os", "brain_metastases", "t_cap", "median_months", "12.5"),
    ("HER2CLIMB", "os", "brain_metastases", "tuc_t_cap", "hr", "0.60"),
    ("HER2CLIMB", "os", "brain_metastases", "tuc_t_cap", "ci_lower", "0.44"),
    ("HER2CLIMB", "os", "brain_metastases", "tuc_t_cap", "ci_upper", "0.81"),
    # Table 4: ExteNET, 5-year follow-up
    ("ExteNET", "idfs", "itt", "neratinib", "n", "1420"), ("ExteNET", "idfs", "itt", "placebo", "n", "1420"),
    ("ExteNET", "idfs", "itt", "neratinib", "rate_percent", "90.2"), ("ExteNET", "idfs", "itt", "placebo", "rate_percent", "87.7"),
    ("ExteNET", "idfs", "itt", "neratinib", "hr", "0.73"), ("ExteNET", "idfs", "itt", "neratinib", "ci_lower", "0.57"),
    ("ExteNET", "idfs", "itt", "neratinib", "ci_upper", "0.92"), ("ExteNET", "idfs", "itt", "neratinib", "p_value", "0.0083"),
    ("ExteNET", "idfs", "hr_positive_le1y", "neratinib", "hr", "0.58"),
    ("ExteNET", "idfs", "hr_positive_le1y", "neratinib", "ci_lower", "0.41"),
    ("ExteNET", "idfs", "hr_positive_le1y", "neratinib", "ci_upper", "0.82"),
]


@pytest.fixture(scope="module")
def seed_rows():
    with open(ROOT / "data" / "evidence.csv", newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["source_id"] == SEED]


@pytest.mark.parametrize("trial, outcome, population, arm, column, value", SEED_TABLE_VALUES)
def test_seed_number_is_in_data(seed_rows, trial, outcome, population, arm, column, value):
    matches = [r for r in seed_rows if (r["trial"], r["outcome"], r["population"], r["arm"]) == (trial, outcome, population, arm)]
    assert matches, f"no design-document row for {trial} {outcome} {population} {arm}"
    assert value in {r[column] for r in matches}, f"{trial} {outcome} {arm}: {column} should be typed as {value!r}"


def test_seed_rows_have_location_and_source():
    with open(ROOT / "data" / "sources.csv", newline="", encoding="utf-8") as fh:
        sources = {r["source_id"]: r for r in csv.DictReader(fh)}
    assert sources[SEED]["kind"] == "design_document"
    with open(ROOT / "data" / "evidence.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            assert r["source_id"] in sources
            assert r["location"].strip()


def test_shipped_evidence_is_valid():
    from nma.evidence.evidence import load

    ev = load(ROOT / "data")
    assert {"CLEOPATRA", "APHINITY", "HER2CLIMB", "ExteNET"} <= set(ev.rows["trial"])
