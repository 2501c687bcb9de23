"""The canonical contrast table: direction, multi-arm covariance, selection of cuts and sources."""

from __future__ import annotations

import math

import pytest
from conftest import EVIDENCE, HEADER, SOURCES, TREATMENTS, set_cell, write_data

from nma.errors import EvidenceError, EvidenceWarning, NetworkDataError
from nma.evidence.evidence import load
from nma.evidence.selection import Selection, TrialChoice, select
from nma.inputs.contrasts import load_contrasts


def _select(tmp_path, evidence=EVIDENCE, sources=SOURCES, **kw):
    ev = load(write_data(tmp_path / "d", evidence, TREATMENTS, sources))
    return select(ev, Selection(setting="metastatic_first_line", outcome="pfs", **kw))


def test_log_hr_and_se_against_control(tmp_path):
    table = _select(tmp_path).contrasts.set_index(["study", "treatment"])
    assert table.loc[("T1", "B"), "y"] == pytest.approx(math.log(0.62))
    assert table.loc[("T1", "B"), "se"] == pytest.approx((math.log(0.75) - math.log(0.51)) / (2 * 1.959964), rel=1e-6)
    assert table.loc[("T2", "C"), "se"] == pytest.approx((math.log(1.13) - math.log(0.73)) / (2 * 2.241403), rel=1e-6)
    assert math.isnan(table.loc[("T1", "A"), "y"])  # reference arm row: y empty


def test_hr_reported_control_vs_experimental_is_inverted(tmp_path):
    # T1 reported the other way round: A vs B, HR 1/0.62 with CI (1/0.75, 1/0.51), typed on the control row.
    text = EVIDENCE.replace("T1,primary,2020-01,metastatic_first_line,pfs,,itt,B,experimental,402,191,0.62,0.51,0.75,0.95,<0.001,A,",
                            "T1,primary,2020-01,metastatic_first_line,pfs,,itt,B,experimental,402,191,,,,,,,")
    text = text.replace("T1,primary,2020-01,metastatic_first_line,pfs,,itt,A,control,406,242,,,,,,,",
                        "T1,primary,2020-01,metastatic_first_line,pfs,,itt,A,control,406,242,1.61,1.33,1.96,0.95,,B,")
    table = _select(tmp_path, text).contrasts.set_index(["study", "treatment"])
    assert table.loc[("T1", "B"), "y"] == pytest.approx(-math.log(1.61))
    assert math.isnan(table.loc[("T1", "A"), "y"])


MULTI = HEADER + """
M,final,2019-01,metastatic_first_line,pfs,,itt,B,experimental,363,,0.91,0.73,1.13,0.975,,A,15.2,,,,s1,Table 2
M,final,2019-01,metastatic_first_line,pfs,,itt,C,experimental,367,,0.87,0.69,1.08,0.975,,A,14.1,,,,s1,Table 2
M,final,2019-01,metastatic_first_line,pfs,,itt,A,control,365,{events},,,,,,,13.7,,,,s1,Table 2
"""


def test_multi_arm_reference_variance_from_events(tmp_path):
    table = _select(tmp_path, MULTI.format(events="200")).contrasts
    ref = table[table["y"].isna()].iloc[0]
    assert ref["se"] == pytest.approx(1 / math.sqrt(200))


def test_multi_arm_reference_variance_assumption_warns(tmp_path):
    with pytest.warns(EvidenceWarning, match=r"M: the control arm's events are not reported; .* assumed to be 0.5 x"):
        table = _select(tmp_path, MULTI.format(events="")).contrasts
    se_b = (math.log(1.13) - math.log(0.73)) / (2 * 2.241403)
    se_c = (math.log(1.08) - math.log(0.69)) / (2 * 2.241403)
    ref = table[table["y"].isna()].iloc[0]
    assert ref["se"] ** 2 == pytest.approx(0.5 * min(se_b, se_c) ** 2, rel=1e-6)


CUTS = EVIDENCE + """T1,final,2023-05,metastatic_first_line,pfs,,itt,B,experimental,402,250,0.69,0.59,0.81,0.95,,A,18.7,,,,s1,p. 4
T1,final,2023-05,metastatic_first_line,pfs,,itt,A,control,406,300,,,,,,,12.4,,,,s1,p. 4
T1,final,,metastatic_first_line,pfs,,itt,B,experimental,402,,0.69,0.58,0.81,0.95,,A,18.7,,,,doc,Table 1
T1,final,,metastatic_first_line,pfs,,itt,A,control,406,,,,,,,,12.4,,,,doc,Table 1
"""
CUT_SOURCES = SOURCES + "doc,An industry summary,2025,https://example.org/doc,,design_document\n"


def test_latest_cut_and_primary_source_by_default(tmp_path):
    sel = _select(tmp_path, CUTS, CUT_SOURCES)
    t1 = sel.contrasts[(sel.contrasts["study"] == "T1") & sel.contrasts["y"].notna()].iloc[0]
    assert (t1["analysis"], t1["source_id"]) == ("final", "s1")
    assert t1["y"] == pytest.approx(math.log(0.69))
    assert any("latest in the order of analyses: final (final)" in line and "s1 preferred over doc" in line for line in sel.log)


def test_config_can_choose_cut_and_source(tmp_path):
    sel = _select(tmp_path, CUTS, CUT_SOURCES, trials={"T1": TrialChoice(analysis="final", source="doc")})
    t1 = sel.contrasts[(sel.contrasts["study"] == "T1") & sel.contrasts["y"].notna()].iloc[0]
    assert t1["source_id"] == "doc"
    assert t1["se"] == pytest.approx((math.log(0.81) - math.log(0.58)) / (2 * 1.959964), rel=1e-6)


def test_unknown_analysis_choice(tmp_path):
    with pytest.raises(NetworkDataError, match=r"\[data.trials.T1\] analysis = 'final_os' has no HR .* available: final, primary"):
        _select(tmp_path, CUTS, CUT_SOURCES, trials={"T1": TrialChoice(analysis="final_os")})


def test_population_mismatch_is_not_paired_silently(tmp_path):
    text = set_cell(set_cell(EVIDENCE, 4, "population", "first_480"), 5, "population", "first_480")
    with pytest.warns(EvidenceWarning, match=r"T2: no rows for population 'itt' \(has: first_480\); not included"):
        sel = _select(tmp_path, text)
    assert set(sel.contrasts["study"]) == {"T1"}


def test_ambiguous_outcome_definition(tmp_path):
    text = EVIDENCE + EVIDENCE.split("\n", 1)[1].replace(",pfs,,itt,", ",pfs,investigator,itt,")
    with pytest.raises(NetworkDataError, match=r"T1 reports pfs under several definitions \['', 'investigator'\]"):
        _select(tmp_path, text)
    sel = _select(tmp_path, text, outcome_definition="investigator")
    assert set(sel.contrasts["outcome_definition"]) == {"investigator"}


def test_no_rows_for_setting(tmp_path):
    ev = load(write_data(tmp_path / "d"))
    with pytest.raises(NetworkDataError, match=r"no rows for setting 'adjuvant' and outcome 'pfs'.*metastatic_first_line/pfs"):
        select(ev, Selection(setting="adjuvant", outcome="pfs"))


# ---- contrast CSVs from anywhere ---------------------------------------------------------------
GOOD = "study,treatment,y,se\nS1,A,,\nS1,B,-0.31,0.668\nS2,A,,0.505\nS2,B,-2.3,0.718\nS2,C,-0.9,0.695\n"


def test_load_contrasts_roundtrip(tmp_path):
    (tmp_path / "c.csv").write_text(GOOD)
    df = load_contrasts(tmp_path / "c.csv")
    assert list(df["treatment"]) == ["A", "B", "A", "B", "C"]
    assert df["y"].isna().sum() == 2


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD.replace("S1,A,,\n", "S1,A,0.1,0.2\n"), r"row 2, column 'y': study 'S1' has 0 reference rows"),
        (GOOD + "S1,C,,\n", r"row 2, column 'y': study 'S1' has 2 reference rows"),
        (GOOD + "S3,A,,\n", r"row 7, column 'treatment': study 'S3' has a single arm"),
        (GOOD + "S1,B,0.2,0.3\n", r"row 7, column 'treatment': study 'S1' lists treatment 'B' twice"),
        (GOOD.replace("S2,A,,0.505", "S2,A,,"), r"row 4, column 'se': multi-arm study 'S2' needs the reference arm's se"),
        (GOOD.replace("-0.31,0.668", "-0.31,0"), r"row 3, column 'se': must be greater than 0"),
        (GOOD.replace("-0.31,0.668", "-0.31,"), r"row 3, column 'se': study 'S1': contrast has no se"),
        (GOOD.replace("-0.31", "x"), r"row 3, column 'y': not a number"),
    ],
)
def test_contrast_csv_errors(tmp_path, text, message):
    (tmp_path / "c.csv").write_text(text)
    with pytest.raises(EvidenceError, match=message):
        load_contrasts(tmp_path / "c.csv")


def test_include_trials_keeps_only_those(tmp_path):
    sel = _select(tmp_path, include_trials=("T2",))
    assert set(sel.contrasts["study"]) == {"T2"}
    assert "T1: excluded by config" in sel.log
    with pytest.raises(NetworkDataError, match=r"config names trial 'T9'"):
        _select(tmp_path, include_trials=("T9",))
