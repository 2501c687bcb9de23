"""Each analysis's description names the trials its network contains, no more and no fewer (issue 14).

Convention (README.md, "How to add an analysis"): the description of every config in analyses/ that builds its
network from data/ has a line

    Trials: A, B, C.

naming the trials of the network as spelled in data/evidence.csv (column `trial`), comma-separated, in any order,
ended by a full stop. The test builds each network exactly as `nma check` and `nma run` do (load_config, then
analysis_network) and compares the trials it contains with the line.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import pytest

from nma.app.assemble import analysis_network
from nma.app.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "analyses").glob("*.toml"))
TRIALS_LINE = re.compile(r"^Trials: (.+)\.\s*$", re.MULTILINE)


def named_trials(description: str) -> list[str]:
    """The trials a description names on its 'Trials: A, B, C.' line (empty when it has none)."""
    found = TRIALS_LINE.findall(description)
    assert len(found) <= 1, f"several 'Trials:' lines: {found}"
    return [name.strip() for name in found[0].split(",")] if found else []


def shipped_trials() -> set[str]:
    with open(ROOT / "data" / "evidence.csv", newline="", encoding="utf-8") as fh:
        return {row["trial"] for row in csv.DictReader(fh)}


def test_parser():
    text = "Trials: CLEOPATRA, NSABP B-31/NCCTG N9831, Ma 2019 phase II.\nPopulation: first line. More text."
    assert named_trials(text) == ["CLEOPATRA", "NSABP B-31/NCCTG N9831", "Ma 2019 phase II"]
    assert named_trials("CLEOPATRA, latest dated analysis.") == []


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_description_names_the_trials_of_its_network(path):
    cfg = load_config(path)
    if cfg.selection is None:
        pytest.skip("network read from a file, not from data/")
    description = cfg.raw.get("description", "")
    named = named_trials(description)
    assert named, f"{path.name}: the description has no 'Trials: A, B, C.' line naming the trials of its network"
    assert len(named) == len(set(named)), f"{path.name}: a trial is named twice: {named}"
    unknown = set(named) - shipped_trials()
    assert not unknown, f"{path.name}: the description names trials that are not in data/evidence.csv: {sorted(unknown)}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        studies = {str(s) for s in analysis_network(cfg).network.studies}
    assert set(named) == studies, (
        f"{path.name}: the description names {sorted(named)} but the network contains {sorted(studies)} "
        f"(named, not in the network: {sorted(set(named) - studies)}; in the network, not named: "
        f"{sorted(studies - set(named))})")
