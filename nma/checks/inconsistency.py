"""Inconsistency checks for every family: node-splitting and the unrelated-mean-effects (UME) model.

Node-splitting (Dias et al. 2010; NICE DSU TSD4): the trials that include both x and y estimate x-y with their
own parameter d_dir; the rest of the network estimates it indirectly, d_y - d_x. Which comparisons to split follows
van Valkenhoef et al. (2016, Res Synth Methods 7:80-93), as gemtc and multinma do: x-y is split when it has direct
evidence and x and y stay connected after removing every study that includes both. A loop closed only inside a
multi-arm trial is consistent by design, so it is never split.

A multi-arm trial that includes x and y is parameterised with x as its baseline: its y-vs-x contrast gets d_dir and
its other arms z keep d_z - d_x. The data stay as reported (any baseline): contrast t vs b has mean mu(t) - mu(b),
mu(u) being arm u's effect against x. Under random effects this is the same trial model (the 0.5 correlation
structure does not depend on the baseline), so exactly one contrast per such trial is freed.

The designs are functions of the network's `Structure` alone; the refits go through the network's family (the exact
engine for normal contrasts, MCMC behind the convergence gate for binomial arms), so each check is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from nma.constants import COMPARATOR, STUDY, TREATMENT
from nma.core.network import Network
from nma.core.structure import Structure
from nma.models.exact import direct_estimates
from nma.models.families import Family, FitSettings, check_settings, family_of
from nma.models.posterior import Posterior
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


def structure_of(network) -> Structure:
    """A network's Structure (or the Structure itself)."""
    return network if isinstance(network, Structure) else network.structure


def has_indirect(network, a: str, b: str) -> bool:
    """Are a and b still connected once every study including both is removed (van Valkenhoef et al. 2016)?"""
    st = structure_of(network)
    return _connected_without(st.edges, st.study_treatments, a, b)


def _connected_without(edges: list, arms: dict, a: str, b: str) -> bool:
    graph = nx.Graph([(u, v) for s, u, v in edges if not {a, b} <= arms[s]])
    return a in graph and b in graph and nx.has_path(graph, a, b)


def split_comparisons(network) -> tuple[Split, ...]:
    """Every directly compared pair with independent indirect evidence, in treatment order."""
    st = structure_of(network)
    order = {t: i for i, t in enumerate(st.treatments)}
    arms, edges = st.study_treatments, st.edges
    pairs = sorted({tuple(sorted((a, b), key=order.get)) for _, a, b in edges},
                   key=lambda p: (order[p[0]], order[p[1]]))
    return tuple(Split(x, y, tuple(s for s in st.studies if {x, y} <= arms[s]))
                 for x, y in pairs if _connected_without(edges, arms, x, y))


def _basic(st: Structure, t: str, width: int) -> np.ndarray:
    """Coefficients of d_t on the basic parameters (zero for the reference), padded to `width` columns."""
    v = np.zeros(width)
    if t != st.reference:
        v[st.treatments.index(t) - 1] = 1.0
    return v


def nodesplit_design(network, split: Split) -> np.ndarray:
    """The consistency design plus a last column, d_dir (treatment vs comparator), for the trials with both."""
    network = structure_of(network)
    p = len(network.treatments) - 1
    x, y = split.comparator, split.treatment
    direct = np.zeros(p + 1)
    direct[p] = 1.0

    def mu(u: str) -> np.ndarray:   # arm u's mean effect against x, in that trial's x-baseline parameterisation
        return direct if u == y else _basic(network, u, p + 1) - _basic(network, x, p + 1)

    X = np.hstack([network.design, np.zeros((len(network.contrasts), 1))])
    both = set(split.studies)
    for r, (study, t, b) in enumerate(network.contrasts[[STUDY, TREATMENT, "baseline"]].itertuples(index=False)):
        if study in both:
            X[r] = mu(t) - mu(b)
    return X


def bayesian_p_value(post, c: np.ndarray) -> float:
    """2 min(P(c.theta > 0), P(c.theta < 0)) of a Posterior or an ExactPosterior (exact over its mixture)."""
    return post.p_value(c)


def node_split(network, spec: ModelSpec, probs: tuple[float, float, float], consistency: Posterior | None = None,
               settings: FitSettings | None = None, family: Family | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """Direct, indirect and network estimates of every split comparison, the inconsistency factor and its p-value.

    One row per comparison and estimate (direct, indirect, network, inconsistency = direct - indirect), on the model
    scale (exp_* added for ratio measures); None when nothing can be split (say NO_LOOPS instead). Each split model
    is refitted through the family (`check_settings`: exact where it exists); `consistency` is the consistency
    model's posterior (fitted the same way when not given). Returns the table and a note per split left out because
    its refit failed the convergence gate.

    For a contrast network the direct row is the league table's direct estimate (`nma.models.exact.DIRECT_RULE`:
    one trial's own estimate, several trials pooled with the consistency model's tau posterior, as netmeta's
    netsplit pools with the network's common tau). The indirect row, the inconsistency factor and its p-value are the
    split model's (Dias et al. 2010), where d_dir shares tau with the rest of the network; under fixed effect with
    two-arm direct trials its d_dir is the direct row exactly.
    """
    family = family or family_of(network)
    settings = check_settings(family, settings or FitSettings())
    st = network.structure
    splits = split_comparisons(st)
    if not splits:
        return None, []
    cons = consistency if consistency is not None else family.fit(network, spec, settings)
    p = len(st.treatments) - 1
    own = None
    if isinstance(network, Network):
        own = direct_estimates(network, spec, probs, posterior=cons).set_index([TREATMENT, COMPARATOR])
    rows, notes = [], []
    for sp in splits:
        post = family.fit(network, spec, settings, nodesplit_design(st, sp), (*st.treatments[1:], "d_dir"))
        if post.problems:
            notes.append(f"Node-split of {sp.treatment} vs {sp.comparator} not reported: its fit failed the convergence "
                         f"gate twice ({'; '.join(post.problems)})")
            continue
        direct = np.zeros(p + 1)
        direct[p] = 1.0
        indirect = _basic(st, sp.treatment, p + 1) - _basic(st, sp.comparator, p + 1)
        net = _basic(st, sp.treatment, p) - _basic(st, sp.comparator, p)
        p_value = post.p_value(direct - indirect)
        tau = post.tau_summary(probs)[probs[1]] if spec.effects == "random" else np.nan
        for name, (fit, c) in zip(ESTIMATES, ((post, direct), (post, indirect), (cons, net), (post, direct - indirect))):
            if name == "direct" and own is not None:
                numbers = own.loc[(sp.treatment, sp.comparator), ["mean", "sd", "lower", "median", "upper"]].to_dict()
            else:
                numbers = fit.combination(c, probs)
            rows.append({TREATMENT: sp.treatment, COMPARATOR: sp.comparator, "estimate": name, **numbers,
                         "p_value": p_value, "n_direct_studies": len(sp.studies),
                         "direct_studies": ", ".join(map(str, sp.studies)), "tau_median": tau})
    return (add_ratio_scale(pd.DataFrame(rows), network.measure) if rows else None), notes


def ume_design(network) -> tuple[np.ndarray, tuple[tuple[str, str], ...]]:
    """One parameter per compared pair (comparator, treatment in treatment order), independent of all others.

    Each contrast is its study's arm against that study's baseline (as reported), so a multi-arm trial informs
    the pairs with its baseline and its within-trial consistency is kept, as TSD4 specifies.
    """
    network = structure_of(network)
    order = {t: i for i, t in enumerate(network.treatments)}
    rows = network.contrasts[[TREATMENT, "baseline"]].itertuples(index=False)
    oriented = [(tuple(sorted((t, b), key=order.get)), 1.0 if order[b] < order[t] else -1.0) for t, b in rows]
    pairs = tuple(sorted({pair for pair, _ in oriented}, key=lambda q: (order[q[0]], order[q[1]])))
    col = {pair: j for j, pair in enumerate(pairs)}
    X = np.zeros((len(oriented), len(pairs)))
    for r, (pair, sign) in enumerate(oriented):
        X[r, col[pair]] = sign
    return X, pairs


def ume_comparison(network, spec: ModelSpec, consistency: Posterior | None = None, consistency_fit: pd.DataFrame | None = None,
                   settings: FitSettings | None = None, family: Family | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """Residual deviance, leverage and DIC per study under consistency and under UME (one independent parameter per
    compared pair); a TOTAL row last.

    The consistency columns come from `consistency_fit` (the analysis's fit.csv rows) when given, else from the
    model fit of `consistency` (refitted through the family when not given). With the analysis seed on the exact
    engine both are the same draws, so the consistency columns equal fit.csv.
    """
    family = family or family_of(network)
    settings = check_settings(family, settings or FitSettings())
    X, pairs = ume_design(network.structure)
    ume = family.fit(network, spec, settings, X, tuple(f"{t} vs {c}" for c, t in pairs))
    if ume.problems:
        return None, [f"UME not reported: its fit failed the convergence gate twice ({'; '.join(ume.problems)})"]
    ume_table, ume_totals = family.model_fit(network, ume, X)
    if consistency_fit is not None:
        per_study = consistency_fit[consistency_fit[STUDY] != "TOTAL"].set_index(STUDY).loc[list(ume_table[STUDY])]
        cons_table = per_study.reset_index()
        cons_totals = {"resdev": float(cons_table["resdev"].sum()), "pD": float(cons_table["leverage"].sum()),
                       "DIC": float(cons_table["dic"].sum())}
    else:
        cons = consistency if consistency is not None else family.fit(network, spec, settings)
        cons_table, cons_totals = family.model_fit(network, cons)
    table = pd.DataFrame({STUDY: list(ume_table[STUDY]), "n_datapoints": ume_table["n_datapoints"].to_numpy()})
    total = {STUDY: "TOTAL", "n_datapoints": int(table["n_datapoints"].sum())}
    for name, (per, totals) in (("consistency", (cons_table, cons_totals)), ("ume", (ume_table, ume_totals))):
        for col, key in (("resdev", "resdev"), ("leverage", "pD"), ("dic", "DIC")):
            table[f"{col}_{name}"] = per[col].to_numpy(float)
            total[f"{col}_{name}"] = totals[key]
    order = [STUDY, "n_datapoints"] + [f"{c}_{m}" for m in ("consistency", "ume") for c in ("resdev", "leverage", "dic")]
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)[order], []
