"""One-sided p-values: marked in the p_value cell ('one-sided 0.0188'), parsed, and held to the one-sided Wald p,
not the two-sided one (issue 14: PHILA's and PHOEBE's OS p-values)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest
from conftest import EVIDENCE, set_cell, write_data

from nma.errors import EvidenceWarning
from nma.evidence.evidence import load

ROOT = Path(__file__).resolve().parents[1]

# Row 4 of the fixture: HR 0.91 (0.73, 1.13), 97.5% CI. Wald: se = 0.4369283 / (2 x 2.241403) = 0.0974676,
# z = 0.0943107 / 0.0974676 = 0.968, two-sided p = 0.333, one-sided p = 0.167.


def _load(tmp_path, p_value):
    return load(write_data(tmp_path / "d", set_cell(EVIDENCE, 4, "p_value", p_value)))


@pytest.mark.parametrize("p_value", ["one-sided 0.17", "one-sided <0.2", "One-sided 0.167", "0.33"])
def test_consistent_p_is_silent(tmp_path, p_value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _load(tmp_path, p_value)


def test_one_sided_p_is_held_to_the_one_sided_wald_p(tmp_path):
    # 0.9 two-sided is within the factor of 3 allowed around 0.333; as a one-sided p it is not (one-sided 0.167)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _load(tmp_path, "0.9")
    with pytest.warns(EvidenceWarning, match=r"row 4: reported p one-sided 0.9 does not match the one-sided p implied"):
        _load(tmp_path, "one-sided 0.9")


def test_marked_p_must_still_be_a_number(tmp_path):
    with pytest.raises(Exception, match=r"row 4, column 'p_value': p-value is not a number"):
        _load(tmp_path, "one-sided significant")


def test_shipped_one_sided_p_values_are_marked():
    with open(ROOT / "data" / "evidence.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    marked = {(r["trial"], r["outcome"], r["source_id"]) for r in rows if r["p_value"].startswith("one-sided")}
    assert ("PHILA", "os", "cancernetwork_phila_sabcs2025") in marked
    assert ("PHOEBE", "os", "cta_phoebe_sabcs2021") in marked
    assert ("PHILA", "pfs", "twominmed_phila") in marked      # the source prints 'one sided P<0.001'
