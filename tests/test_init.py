"""`nma init <csv>`: the kind of table from its columns, a config that loads and runs, never an overwrite."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from nma.app import cli
from nma.app.config import load_config
from nma.app.init import detect_kind, write_config
from nma.errors import ConfigError, EvidenceError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_data" / "hazard_ratios.csv"
CONTRASTS = "study,treatment,y,se\nS1,A,,\nS1,B,-0.3,0.2\nS2,B,,\nS2,C,0.1,0.25\n"
ARMS = "study,treatment,r,n\nS1,A,10,100\nS1,B,20,100\nS2,B,15,90\nS2,C,25,95\n"
ODDS = "study,treatment,or,ci_lower,ci_upper\nS1,A,,,\nS1,B,1.5,1.1,2.05\n"


@pytest.mark.parametrize("text, kind, measure", [(CONTRASTS, "contrasts", "HR"), (ARMS, "arms", "OR"),
                                                 (ODDS, "ratios", "OR")])
def test_kind_is_read_from_the_columns(tmp_path, text, kind, measure):
    path = tmp_path / "t.csv"
    path.write_text(text)
    assert detect_kind(path) == (kind, measure)


def test_unknown_columns_name_the_file_and_row_1(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("trial,arm,value\nS1,A,1\n")
    with pytest.raises(EvidenceError, match=r"t\.csv.*row 1.*Fix:"):
        detect_kind(path)


def test_init_writes_a_commented_config_that_runs(tmp_path, monkeypatch, capsys):
    shutil.copy(EXAMPLE, tmp_path / "my_hrs.csv")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "my_hrs.csv"]) == 0
    assert "nma run my_hrs.toml" in capsys.readouterr().out
    text = (tmp_path / "my_hrs.toml").read_text(encoding="utf-8")
    assert text.count("#") > 10
    raw = tomllib.loads(text)
    assert raw["data"] == {"ratios": "my_hrs.csv", "measure": "HR", "labels": {}}
    assert raw["model"]["reference"] == "chemo"          # in three of the five trials, more than any other
    for t in ("chemo", "drug_a", "drug_b", "drug_c"):     # every id offered a label, commented out
        assert f'# "{t}" = ' in text
    assert load_config(tmp_path / "my_hrs.toml").ratios_path == (tmp_path / "my_hrs.csv").resolve()
    assert cli.main(["run", "my_hrs.toml"]) == 0
    assert (tmp_path / "outputs" / "my_hrs" / "report.html").is_file()


@pytest.mark.parametrize("text", [CONTRASTS, ARMS])
def test_init_for_contrasts_and_arms_loads(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    config, kind = write_config(path, tmp_path / "sub" / "a.toml")
    cfg = load_config(config)
    assert (cfg.contrasts_path if kind == "contrasts" else cfg.arms_path) == path.resolve()


def test_init_refuses_to_overwrite(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(CONTRASTS)
    (tmp_path / "t.toml").write_text("# mine\n")
    with pytest.raises(ConfigError, match=r"t\.toml already exists.*Fix:"):
        write_config(path)
    assert (tmp_path / "t.toml").read_text() == "# mine\n"


def test_init_validates_the_csv_before_writing(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("study,treatment,y,se\nS1,A,,\nS1,B,abc,0.2\n")
    with pytest.raises(EvidenceError, match=r"row 3.*column 'y'|column y"):
        write_config(path)
    assert not (tmp_path / "t.toml").exists()
