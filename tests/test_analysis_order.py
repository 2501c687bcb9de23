"""Which data cut of a trial an analysis uses: the latest in the order of analyses (primary < interim 1 < interim 2 <
updated / N-year < final < long-term / end of study), read from the `analysis` labels, whether or not a date is
printed (issue 14: DESTINY-Breast03's later OS analyses are undated in some sources)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest
from conftest import HEADER, SOURCES, TREATMENTS, write_data

from nma.errors import EvidenceError, NetworkDataError
from nma.evidence.analysis_order import STAGES, analysis_rank
from nma.evidence.evidence import load, usable_hr
from nma.evidence.selection import Selection, TrialChoice, select

ROOT = Path(__file__).resolve().parents[1]


def _rows(trial, analysis, cut, hr, lower, upper):
    return (f"{trial},{analysis},{cut},metastatic_first_line,pfs,,itt,B,experimental,300,,{hr},{lower},{upper},0.95,,A,,,,,s1,p. 1\n"
            f"{trial},{analysis},{cut},metastatic_first_line,pfs,,itt,A,control,300,,,,,,,,,,,,s1,p. 1\n")


def _select(tmp_path, *analyses, **kw):
    text = HEADER + "\n" + "".join(_rows("T1", *a) for a in analyses)
    ev = load(write_data(tmp_path / "d", text, TREATMENTS, SOURCES))
    return select(ev, Selection(setting="metastatic_first_line", outcome="pfs", **kw))


def _chosen(sel):
    return set(sel.contrasts["analysis"])


def test_the_order_not_the_date_decides(tmp_path):
    # the primary analysis is the only dated one; the later, undated analysis is chosen
    sel = _select(tmp_path, ("primary", "2021-05-21", 0.28, 0.22, 0.37), ("updated_os", "", 0.33, 0.26, 0.43))
    assert _chosen(sel) == {"updated_os"}
    line = next(entry for entry in sel.log if entry.startswith("T1: analysis"))
    assert "latest in the order of analyses: updated_os (updated / N-year follow-up), after primary (primary)" in line
    assert "no data cut printed, the order decides, not the date" in line


def test_undated_analyses_are_ordered_by_their_labels(tmp_path):
    sel = _select(tmp_path, ("final", "", 0.69, 0.59, 0.81), ("primary", "", 0.62, 0.51, 0.75),
                  ("second_interim_os", "", 0.66, 0.52, 0.84))
    assert _chosen(sel) == {"final"}
    sel = _select(tmp_path, ("end_of_study", "", 0.69, 0.58, 0.82), ("final_os", "2014-02", 0.68, 0.56, 0.84))
    assert _chosen(sel) == {"end_of_study"}


def test_follow_up_in_the_label_orders_within_a_stage(tmp_path):
    sel = _select(tmp_path, ("8y", "", 0.77, 0.66, 0.91), ("6y", "2019-06-19", 0.76, 0.64, 0.91),
                  ("primary", "2016-12-19", 0.81, 0.66, 1.00))
    assert _chosen(sel) == {"8y"}


def test_same_stage_that_nothing_orders_asks_the_config(tmp_path):
    with pytest.raises(NetworkDataError, match=r"T1 has several analyses for pfs in the same stage .* \[data.trials.T1\] analysis"):
        _select(tmp_path, ("updated_os", "", 0.33, 0.26, 0.43), ("update_sabcs2024", "", 0.35, 0.27, 0.45))
    sel = _select(tmp_path, ("updated_os", "", 0.33, 0.26, 0.43), ("update_sabcs2024", "", 0.35, 0.27, 0.45),
                  trials={"T1": TrialChoice(analysis="update_sabcs2024")})
    assert _chosen(sel) == {"update_sabcs2024"}
    assert any("chosen in config" in entry for entry in sel.log)


def test_unordered_analyses_are_never_latest(tmp_path):
    sel = _select(tmp_path, ("unattributed", "", 0.69, 0.58, 0.81), ("primary", "2011-05", 0.62, 0.51, 0.75))
    assert _chosen(sel) == {"primary"}
    assert any("not ordered, so not considered" in entry and "unattributed" in entry for entry in sel.log)


def test_config_still_names_an_earlier_analysis(tmp_path):
    sel = _select(tmp_path, ("primary", "2021-05-21", 0.28, 0.22, 0.37), ("updated_os", "", 0.33, 0.26, 0.43),
                  trials={"T1": TrialChoice(analysis="primary")})
    assert _chosen(sel) == {"primary"}


def test_dates_that_contradict_the_order_warn(tmp_path):
    with pytest.warns(Warning, match=r"T1: analysis 'final' \(2019-01\) is latest in the order .* primary \(2020-01\)"):
        _select(tmp_path, ("final", "2019-01", 0.69, 0.59, 0.81), ("primary", "2020-01", 0.62, 0.51, 0.75))


def test_unknown_label_names_file_row_and_column(tmp_path):
    with pytest.raises(EvidenceError, match=r"evidence.csv, row 4, column 'analysis'.*'later_cut' \(T1\) has no place"):
        _select(tmp_path, ("primary", "2020-01", 0.62, 0.51, 0.75), ("later_cut", "", 0.69, 0.59, 0.81))


def test_every_shipped_label_has_its_place():
    with open(ROOT / "data" / "evidence.csv", newline="", encoding="utf-8") as fh:
        labels = {r["analysis"] for r in csv.DictReader(fh)}
    assert {label for label in labels if analysis_rank(label) is None} == set()


def test_stage_names_are_the_documented_ones():
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    for stage in STAGES:
        assert stage in readme


def _latest_with_hr(ev, trial, outcome, definition=None):
    rows = ev.rows[(ev.rows["trial"] == trial) & (ev.rows["outcome"] == outcome) & (ev.rows["population"] == "itt")]
    if definition is not None:
        rows = rows[rows["outcome_definition"] == definition]
    ranks = [analysis_rank(a) for a in set(rows[usable_hr(rows)]["analysis"])]
    return max((r for r in ranks if r.stage is not None), key=lambda r: (r.stage, r.years or 0)).label


def test_destiny_breast03_latest_os_analysis_in_the_pretreated_os_network():
    from nma.app.assemble import analysis_network
    from nma.app.config import load_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assembled = analysis_network(load_config(ROOT / "analyses" / "metastatic_pretreated_os.toml"))
        ev = load(ROOT / "data")
    expected = _latest_with_hr(ev, "DESTINY-Breast03", "os")
    assert expected != "primary"       # the first interim OS (the only one dated in 2021) is not the latest
    db03 = [entry for entry in assembled.log if entry.startswith("DESTINY-Breast03: analysis")]
    assert db03 and db03[0].startswith(f"DESTINY-Breast03: analysis '{expected}' (latest in the order of analyses")
