"""Sensitivity analyses of other networks, ranked beside the main one in its report.

A config `analyses/<name>.toml` may have companions `analyses/<name>_sensitivity_<what>.toml`: the same question
asked of another network (trials added or removed, another data cut, a split node). They run as analyses of their
own; the main report also shows every treatment's SUCRA, mean rank and P(best) under each of them side by side,
all from the exact engine with the main analysis's seed, so the columns differ only by their networks.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from nma.analysis.fit import fit
from nma.app.assemble import analysis_network
from nma.app.config import AnalysisConfig, load_config
from nma.constants import TREATMENT
from nma.models.families import family_of
from nma.models.sampler import SamplerConfig
from nma.models.spec import ModelSpec


def companion_configs(cfg: AnalysisConfig) -> list[Path]:
    """The sensitivity configs of an analysis: `<name>_sensitivity_*.toml` beside it (none for a companion itself)."""
    if "_sensitivity_" in cfg.name:
        return []
    return sorted(cfg.path.parent.glob(f"{cfg.name}_sensitivity_*.toml"))


def _ranks_of(cfg: AnalysisConfig, network, seed: int, draws: int) -> pd.DataFrame | None:
    family = family_of(network)
    if not family.has_exact:
        return None
    spec = ModelSpec.from_config(cfg.model, warn=False, measure=network.measure.code,
                                 lower_is_better_default=family.lower_is_better_default)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit(network, spec=spec, sampler=SamplerConfig(seed=seed, chains=4, draws=draws), engine="exact")
    ranks = fitted.ranks()[[TREATMENT, "sucra", "mean_rank", "p_best"]]
    return ranks.assign(analysis=cfg.name, title=cfg.title, n_studies=len(network.studies),
                        reference=str(network.reference))


def network_sensitivity(cfg: AnalysisConfig, network, seed: int, draws: int = 1000) -> pd.DataFrame | None:
    """One row per analysis x treatment: ``analysis, title, n_studies, reference, treatment, sucra, mean_rank,
    p_best``, the main analysis first; None when the analysis has no companions (or its family has no exact engine)."""
    paths = companion_configs(cfg)
    if not paths:
        return None
    frames = [_ranks_of(cfg, network, seed, draws)]
    for path in paths:
        other = load_config(path)
        frames.append(_ranks_of(other, analysis_network(other).network, seed, draws))
    frames = [f for f in frames if f is not None]
    if len(frames) < 2:
        return None
    cols = ["analysis", "title", "n_studies", "reference", TREATMENT, "sucra", "mean_rank", "p_best"]
    return pd.concat(frames, ignore_index=True)[cols]
