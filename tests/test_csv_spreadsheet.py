"""CSVs as spreadsheets save them (Excel's "CSV UTF-8": a byte-order mark, CRLF line endings; old Mac Excel: CR) are
read as they are, on every user-file route, and give the same table as the plain file."""

from __future__ import annotations

import pandas as pd
import pytest

from nma.app.init import detect_kind
from nma.inputs.arms import load_arms
from nma.inputs.contrasts import load_contrasts
from nma.inputs.ratios import load_ratios, load_treatment_labels

BOM = b"\xef\xbb\xbf"
TABLES = {
    "contrasts": ("study,treatment,y,se\nS1,A,,\nS1,B,-0.3,0.2\nS2,B,,\nS2,C,0.1,0.25\n", load_contrasts),
    "arms": ("study,treatment,r,n\nS1,A,10,100\nS1,B,20,100\nS2,B,15,90\nS2,C,25,95\n", load_arms),
    "ratios": ('study,treatment,hr,ci_lower,ci_upper,location\nS1,A,,,,\nS1,B,0.72,0.58,0.89,"Table 2, row 1"\n'
               "S2,B,,,,\nS2,C,0.9,0.7,1.15,\n", load_ratios),
    "labels": ("id,label\nA,Drug A\nB,Drug B\n", load_treatment_labels),
}


def spreadsheet(text: str, bom: bool, newline: str) -> bytes:
    return (BOM if bom else b"") + text.replace("\n", newline).encode("utf-8")


@pytest.mark.parametrize("kind", TABLES)
@pytest.mark.parametrize("bom, newline", [(True, "\r\n"), (True, "\n"), (False, "\r\n"), (True, "\r")])
def test_spreadsheet_csv_reads_as_the_plain_file(tmp_path, kind, bom, newline):
    text, load = TABLES[kind]
    plain, saved = tmp_path / "plain.csv", tmp_path / "saved.csv"
    plain.write_bytes(text.encode("utf-8"))
    saved.write_bytes(spreadsheet(text, bom, newline))
    expected, got = load(plain), load(saved)
    pd.testing.assert_frame_equal(got, expected)
    assert not any(str(c).startswith("\ufeff") for c in got.columns)       # the BOM is not part of 'study'
    assert not got.astype(str).apply(lambda s: s.str.contains("\r")).any().any()


@pytest.mark.parametrize("kind", ["contrasts", "arms", "ratios"])
def test_init_detects_the_kind_of_a_spreadsheet_csv(tmp_path, kind):
    path = tmp_path / "saved.csv"
    path.write_bytes(spreadsheet(TABLES[kind][0], True, "\r\n"))
    assert detect_kind(path)[0] == kind
