"""From an analysis config to its network: the one place that turns `[data]` into the evidence an engine fits.

`nma run` and `nma check` both call `analysis_network`, so what `check` prints is what `run` fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nma.app.config import AnalysisConfig
from nma.core.network import Network
from nma.evidence.evidence import load
from nma.evidence.selection import select
from nma.inputs.contrasts import load_contrasts

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
    """Contrast files, or data/ rows chosen by [data]; binary outcomes become an ArmNetwork (binomial model, ORs),
    from `[data] arms` (with `contrasts` beside it: mixed evidence) or from data/ rows with responders and n."""
    if cfg.binary:
        return _arm_network(cfg)
    if cfg.contrasts_path is not None:
        network = Network.from_contrasts(load_contrasts(cfg.contrasts_path), reference=cfg.reference,
                                         source=str(cfg.contrasts_path))
        return Assembled(network, (f"contrasts read from {cfg.contrasts_path}",), NO_SOURCES, NO_TREATMENTS)
    evidence = load(cfg.evidence_dir)
    selected = select(evidence, cfg.selection)
    network = Network.from_contrasts(selected.contrasts, reference=cfg.reference, source=evidence.path)
    return Assembled(network, selected.log, _cited(evidence, selected.contrasts), evidence.treatments)


def _arm_network(cfg: AnalysisConfig) -> Assembled:
    from nma.core.arms import ArmNetwork
    from nma.evidence.counts import select_arms
    from nma.inputs.arms import load_arms

    if cfg.arms_path is not None:
        contrasts = load_contrasts(cfg.contrasts_path) if cfg.contrasts_path is not None else None
        log = (f"arm-level counts read from {cfg.arms_path}",) + (
            (f"contrast-level log-ORs read from {cfg.contrasts_path}",) if contrasts is not None else ())
        net = ArmNetwork.from_data(load_arms(cfg.arms_path), contrasts, reference=cfg.reference, source=str(cfg.arms_path))
        return Assembled(net, log, NO_SOURCES, NO_TREATMENTS)
    evidence = load(cfg.evidence_dir)
    selected = select_arms(evidence, cfg.selection)
    net = ArmNetwork.from_data(selected.contrasts, reference=cfg.reference, source=evidence.path)
    return Assembled(net, selected.log, _cited(evidence, selected.contrasts), evidence.treatments)


def _cited(evidence, rows: pd.DataFrame) -> pd.DataFrame:
    """The sources.csv rows of the sources a network's rows cite."""
    return evidence.sources[evidence.sources["source_id"].isin(set(rows["source_id"]))]
