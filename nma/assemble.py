"""From an analysis config to its network: the one place that turns `[data]` into the evidence an engine fits.

`nma run` and `nma check` both call `analysis_network`, so what `check` prints is what `run` fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .config import AnalysisConfig
from .contrasts import load_contrasts, select
from .evidence import load
from .network import Network

NO_SOURCES = pd.DataFrame(columns=["source_id", "citation", "url", "doi"])
NO_TREATMENTS = pd.DataFrame(columns=["id", "label", "dual_blockade"])


@dataclass(frozen=True, eq=False)
class Assembled:
    """The network (contrast-level, or arm-level for binary outcomes), the selection log, the sources cited and
    treatment metadata (empty when the network comes from a file rather than data/)."""

    network: object           # Network, or binomial.ArmNetwork
    log: tuple[str, ...]
    sources: pd.DataFrame
    treatments: pd.DataFrame


def analysis_network(cfg: AnalysisConfig) -> Assembled:
    if cfg.binary:   # arm-level binary data: binomial model, odds ratios (nma/binomial.py)
        from .binomial import load_arm_network

        return Assembled(*load_arm_network(cfg))
    if cfg.contrasts_path is not None:
        network = Network.from_contrasts(load_contrasts(cfg.contrasts_path), reference=cfg.reference,
                                         source=str(cfg.contrasts_path))
        return Assembled(network, (f"contrasts read from {cfg.contrasts_path}",), NO_SOURCES, NO_TREATMENTS)
    evidence = load(cfg.evidence_dir)
    selected = select(evidence, cfg.selection)
    network = Network.from_contrasts(selected.contrasts, reference=cfg.reference, source=evidence.path)
    sources = evidence.sources[evidence.sources["source_id"].isin(set(selected.contrasts["source_id"]))]
    return Assembled(network, selected.log, sources, evidence.treatments)
