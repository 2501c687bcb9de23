"""Inconsistency, with the exact engine: node-splitting and the unrelated-mean-effects (UME) model.

Node-splitting (Dias et al. 2010; NICE DSU TSD4): the trials that include both x and y estimate x-y with their
own parameter d_dir; the rest of the network estimates it indirectly, d_y - d_x. Which comparisons to split follows
van Valkenhoef et al. (2016, Res Synth Methods 7:80-93), as gemtc and multinma do: x-y is split when it has direct
evidence and x and y stay connected after removing every study that includes both. A loop closed only inside a
multi-arm trial is consistent by design, so it is never split.

A multi-arm trial that includes x and y is parameterised with x as its baseline: its y-vs-x contrast gets d_dir and
its other arms z keep d_z - d_x. The data stay as reported (any baseline): contrast t vs b has mean mu(t) - mu(b),
mu(u) being arm u's effect against x. Under random effects this is the same trial model (the 0.5 correlation
structure does not depend on the baseline), so exactly one contrast per such trial is freed.

Pure NumPy and networkx: no PyMC here.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from scipy import special

from nma.constants import COMPARATOR, STUDY, TREATMENT
from nma.core.network import Network, study_edges
from nma.models.exact import ExactPosterior, fit_exact
from nma.models.normal import model_fit
from nma.models.spec import ModelSpec
from nma.posterior.summaries import add_ratio_scale

#: Said instead of an empty node-split table.
NO_LOOPS = "no comparison has both direct and independent indirect evidence"
ESTIMATES = ("direct", "indirect", "network", "inconsistency")


@dataclass(frozen=True)
class Split:
    """A comparison to split: `treatment` versus `comparator` (earlier in the network's treatment order)."""

    comparator: str
    treatment: str
    studies: tuple[str, ...]      # the trials that include both (the direct evidence)


def study_arms(network: Network) -> dict:
    """Treatments of each study."""
    return {s: set(g) for s, g in network.contrasts.groupby(STUDY, sort=False)[TREATMENT]}


def has_indirect(network: Network, a: str, b: str) -> bool:
    """Are a and b still connected once every study including both is removed (van Valkenhoef et al. 2016)?"""
    return _connected_without(study_edges(network.contrasts), study_arms(network), a, b)


def _connected_without(edges: list, arms: dict, a: str, b: str) -> bool:
    graph = nx.Graph([(u, v) for s, u, v in edges if not {a, b} <= arms[s]])
    return a in graph and b in graph and nx.has_path(graph, a, b)


def split_comparisons(network: Network) -> tuple[Split, ...]:
    """Every directly compared pair with independent indirect evidence, in treatment order."""
    order = {t: i for i, t in enumerate(network.treatments)}
    arms = study_arms(network)
    edges = study_edges(network.contrasts)     # once: the pandas grouping dominates the graph work
    pairs = sorted({tuple(sorted((a, b), key=order.get)) for _, a, b in edges},
                   key=lambda p: (order[p[0]], order[p[1]]))
    return tuple(Split(x, y, tuple(s for s in network.studies if {x, y} <= arms[s]))
                 for x, y in pairs if _connected_without(edges, arms, x, y))


def _basic(network: Network, t: str, width: int) -> np.ndarray:
    """Coefficients of d_t on the basic parameters (zero for the reference), padded to `width` columns."""
    v = np.zeros(width)
    if t != network.reference:
        v[network.treatments.index(t) - 1] = 1.0
    return v


def nodesplit_design(network: Network, split: Split) -> np.ndarray:
    """The consistency design plus a last column, d_dir (treatment vs comparator), for the trials with both."""
    p = len(network.treatments) - 1
    x, y = split.comparator, split.treatment
    direct = np.zeros(p + 1)
    direct[p] = 1.0

    def mu(u: str) -> np.ndarray:   # arm u's mean effect against x, in that trial's x-baseline parameterisation
        return direct if u == y else _basic(network, u, p + 1) - _basic(network, x, p + 1)

    X = np.hstack([network.design, np.zeros((len(network.y), 1))])
    both = set(split.studies)
    for r, (study, t, b) in enumerate(network.arms[[STUDY, TREATMENT, "baseline"]].itertuples(index=False)):
        if study in both:
            X[r] = mu(t) - mu(b)
    return X


def _summary(post: ExactPosterior, c: np.ndarray, probs: tuple[float, float, float]) -> dict[str, float]:
    s = post.summarise(c[None], probs)
    return {"mean": s["mean"][0], "sd": s["sd"][0], "lower": s[probs[0]][0], "median": s[probs[1]][0],
            "upper": s[probs[2]][0]}


def bayesian_p_value(post: ExactPosterior, c: np.ndarray) -> float:
    """2 min(P(c.theta > 0), P(c.theta < 0)), exact over the mixture: sum_g w_g Phi(m_g / s_g)."""
    m, s = post.combination(c[None])
    above = float((post.weight * special.ndtr(m[:, 0] / s[:, 0])).sum())
    return 2 * min(above, 1 - above)


def node_split(network: Network, spec: ModelSpec, probs: tuple[float, float, float],
               consistency: ExactPosterior | None = None) -> pd.DataFrame | None:
    """Direct, indirect and network log-HR of every split comparison, the inconsistency factor and its p-value.

    One row per comparison and estimate (direct, indirect, network, inconsistency = direct - indirect); None when
    nothing can be split (say NO_LOOPS instead). `consistency` reuses an exact fit of the consistency model.
    """
    splits = split_comparisons(network)
    if not splits:
        return None
    cons = consistency if consistency is not None else fit_exact(network, spec)
    p = len(network.treatments) - 1
    rows = []
    for sp in splits:
        post = fit_exact(network, spec, nodesplit_design(network, sp))
        direct = np.zeros(p + 1)
        direct[p] = 1.0
        indirect = _basic(network, sp.treatment, p + 1) - _basic(network, sp.comparator, p + 1)
        net = (_basic(network, sp.treatment, p) - _basic(network, sp.comparator, p))
        p_value = bayesian_p_value(post, direct - indirect)
        tau = post.tau_summary(probs)[probs[1]] if spec.effects == "random" else np.nan
        for name, (fit, c) in zip(ESTIMATES, ((post, direct), (post, indirect), (cons, net), (post, direct - indirect))):
            rows.append({TREATMENT: sp.treatment, COMPARATOR: sp.comparator, "estimate": name, **_summary(fit, c, probs),
                         "p_value": p_value, "n_direct_studies": len(sp.studies),
                         "direct_studies": ", ".join(map(str, sp.studies)), "tau_median": tau})
    return add_ratio_scale(pd.DataFrame(rows))


def ume_design(network: Network) -> tuple[np.ndarray, tuple[tuple[str, str], ...]]:
    """One parameter per compared pair (comparator, treatment in treatment order), independent of all others.

    Each contrast is its study's arm against that study's baseline (as reported), so a multi-arm trial informs
    the pairs with its baseline and its within-trial consistency is kept, as TSD4 specifies.
    """
    order = {t: i for i, t in enumerate(network.treatments)}
    rows = network.arms[[TREATMENT, "baseline"]].itertuples(index=False)
    oriented = [(tuple(sorted((t, b), key=order.get)), 1.0 if order[b] < order[t] else -1.0) for t, b in rows]
    pairs = tuple(sorted({pair for pair, _ in oriented}, key=lambda q: (order[q[0]], order[q[1]])))
    col = {pair: j for j, pair in enumerate(pairs)}
    X = np.zeros((len(oriented), len(pairs)))
    for r, (pair, sign) in enumerate(oriented):
        X[r, col[pair]] = sign
    return X, pairs


def ume_comparison(network: Network, spec: ModelSpec, seed: int, n_draws: int,
                   consistency: ExactPosterior | None = None) -> pd.DataFrame:
    """Residual deviance, leverage and DIC per study under consistency and UME, from exact draws; TOTAL row last.

    Both models are drawn with the analysis seed, so the consistency columns equal fit.csv for the exact engine.
    """
    cons = consistency if consistency is not None else fit_exact(network, spec)
    X, _ = ume_design(network)
    ume = fit_exact(network, spec, X)
    fits = {}
    for name, post, design in (("consistency", cons, None), ("ume", ume, X)):
        d, tau = post.sample(n_draws, np.random.default_rng(seed))
        fits[name] = model_fit(network, d, tau if spec.effects == "random" else None, design)
    table = fits["consistency"][0][[STUDY, "n_datapoints"]].copy()
    total = {STUDY: "TOTAL", "n_datapoints": fits["consistency"][1]["n_datapoints"]}
    for name, (per_study, totals) in fits.items():
        for col, key in (("resdev", "resdev"), ("leverage", "pD"), ("dic", "DIC")):
            table[f"{col}_{name}"] = per_study[col].to_numpy()
            total[f"{col}_{name}"] = totals[key]
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
