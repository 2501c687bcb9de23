"""Every shipped analysis config parses, selects its evidence and forms a connected network (no MCMC)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from nma.config import load_config
from nma.contrasts import select
from nma.evidence import load
from nma.network import Network

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "analyses").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_analysis_builds_its_network(path):
    cfg = load_config(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # selection warnings are part of the run's report
        evidence = load(cfg.evidence_dir)
        selected = select(evidence, cfg.selection)
    net = Network.from_contrasts(selected.contrasts, reference=cfg.reference)
    assert len(net.treatments) >= 2
