"""From an analysis config to its network: the one place that turns `[data]` into the evidence an engine fits.

`nma run` and `nma check` both call `analysis_network`, so what `check` prints is what `run` fits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from nma.analysis.save import NO_SOURCES, NO_TREATMENTS
from nma.app.config import AnalysisConfig
from nma.core.arms import ArmNetwork
from nma.core.network import Network
from nma.core.ratios import check_labels
from nma.errors import ConfigError, UnknownTreatmentError
from nma.evidence.evidence import load
from nma.evidence.base import select_network
from nma.inputs.arms import load_arms
from nma.inputs.contrasts import load_contrasts
from nma.inputs.ratios import load_ratios



@dataclass(frozen=True, eq=False)
class Assembled:
    """The network (contrast-level, or arm-level for binary outcomes), the selection log, the sources cited and
    treatment metadata (empty when the network comes from a file rather than data/)."""

    network: object           # Network, or binomial.ArmNetwork
    log: tuple[str, ...]
    sources: pd.DataFrame
    treatments: pd.DataFrame


def analysis_network(cfg: AnalysisConfig) -> Assembled:
    """The network of a config (`_network`), with a reference it lacks re-raised naming the config key."""
    try:
        return _network(cfg)
    except UnknownTreatmentError as err:
        raise ConfigError(f"{cfg.path}: [model] {err.argument} = {err.value!r}: reference treatment '{err.value}' is not "
                          f"in the network ({err.source}). Suitable values are: {', '.join(map(str, err.valid))}. Fix: set "
                          f"[model] {err.argument} to one of them.") from None


def _network(cfg: AnalysisConfig) -> Assembled:
    """The network of a config: from data/ rows chosen by [data] (`select_network`: time-to-event outcomes give a
    contrast network, binary ones an arm-level network), or from the config's own file: `[data] ratios` (HR/OR/RR with
    CIs), `contrasts` (y, se on the model scale) or `arms` (responders r of n, with `contrasts` beside it: mixed)."""
    if cfg.selection is not None:
        evidence = load(cfg.evidence_dir)
        network, selected = select_network(evidence, cfg.selection, cfg.reference)
        return Assembled(network, selected.log, _cited(evidence, selected.contrasts), evidence.treatments)
    if cfg.arms_path is not None:
        contrasts = load_contrasts(cfg.contrasts_path) if cfg.contrasts_path is not None else None
        network = ArmNetwork.from_arms(load_arms(cfg.arms_path), contrasts=contrasts, reference=cfg.reference,
                                       source=str(cfg.arms_path))
        log = (f"arm-level counts read from {cfg.arms_path}",) + (
            (f"contrast-level log-ORs read from {cfg.contrasts_path}",) if contrasts is not None else ())
    elif cfg.ratios_path is not None:
        network = Network.from_ratios(load_ratios(cfg.ratios_path, cfg.measure, _covariates(cfg)), cfg.measure, reference=cfg.reference,
                                      source=str(cfg.ratios_path))
        log = (f"{cfg.measure.name}s with their confidence intervals read from {cfg.ratios_path}; log-{cfg.measure.code} "
               "and SE derived from each CI",)
    else:
        network = Network.from_contrasts(load_contrasts(cfg.contrasts_path, measure=cfg.measure,
                                                        covariates=_covariates(cfg)), measure=cfg.measure,
                                         reference=cfg.reference, source=str(cfg.contrasts_path))
        log = (f"contrasts read from {cfg.contrasts_path} (y on the {cfg.measure.model_scale} scale)",)
    network, meta = _labelled(network, cfg)
    return Assembled(network, log, NO_SOURCES, meta)


def _covariates(cfg: AnalysisConfig) -> tuple[str, ...]:
    """The column a [model.regression] reads from the user's own CSV (kept beside the contrasts)."""
    req = cfg.extensions.regression
    return (req.regression.covariate,) if req is not None else ()


def _labelled(network: Network, cfg: AnalysisConfig) -> tuple[Network, pd.DataFrame]:
    """The network with the labels of [data] treatments = "file.csv" (id, label[, description]) or [data.labels],
    and the treatments_meta the report and plots read (id, label, dual_blockade[, description]). Ids not in the
    network are an error naming the file or the config key; treatments without a label print as their id."""
    if cfg.treatments_path is not None:
        from nma.inputs.ratios import load_treatment_labels

        meta, where = load_treatment_labels(cfg.treatments_path), f"{cfg.treatments_path} (from [data] treatments)"
        labels = dict(zip(meta["id"], meta["label"]))
    elif cfg.labels:
        meta, where, labels = None, f"{cfg.path}: [data.labels]", dict(cfg.labels)
    else:
        return network, NO_TREATMENTS
    known = {str(t): t for t in network.treatments}
    unknown = sorted(set(labels) - set(known))
    if unknown:
        raise ConfigError(f"{where} names treatment {', '.join(repr(u) for u in unknown)}, not in the network "
                          f"({', '.join(known)}). Fix: correct the ids (they must match the treatment column of the data), "
                          "or delete those entries")
    labels = check_labels({known[k]: v for k, v in labels.items()}, network.treatments)
    if hasattr(network, "labels"):   # an ArmNetwork carries none; its report and plots read treatments_meta
        network = replace(network, labels=labels)
    frame = pd.DataFrame([{"id": t, "label": labels[t], "dual_blockade": False} for t in network.treatments if t in labels])
    if meta is not None and (meta["description"] != "").any():
        frame["description"] = frame["id"].astype(str).map(dict(zip(meta["id"], meta["description"]))).fillna("")
    return network, frame


def _cited(evidence, rows: pd.DataFrame) -> pd.DataFrame:
    """The sources.csv rows of the sources a network's rows cite."""
    return evidence.sources[evidence.sources["source_id"].isin(set(rows["source_id"]))]
