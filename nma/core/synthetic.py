"""Seedable synthetic contrast networks, for benchmarks and validation tests (never for analyses)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from nma.errors import NetworkDataError


def synthetic_network(n_treatments: int, n_studies: int, *, share_three_arm: float = 0.2, tau: float = 0.2,
                      seed: int = 0, se_range: tuple[float, float] = (0.1, 0.3),
                      inconsistency: float = 0.0) -> pd.DataFrame:
    """A connected contrast table in the canonical format.

    The first T-1 studies form a spanning tree (each new treatment against an earlier one), so the network
    is connected; the rest pick random treatment pairs (or triples, with probability `share_three_arm`).
    True log-HRs d_t ~ N(0, 0.5^2); trial effects add N(0, tau^2) heterogeneity (correlation 0.5 in multi-arm
    trials); observed y add sampling error with SEs uniform on `se_range`.

    `inconsistency` (log-HR) is added to the direct effect of one comparison on a loop, `shifted_comparison`
    of the table, a pair compared only in two-arm trials (a multi-arm trial cannot be inconsistent within
    itself). It is applied after all random draws, so a table differs from the consistent one with the same seed only there.
    """
    if n_studies < n_treatments - 1:
        raise NetworkDataError(f"n_studies={n_studies} with n_treatments={n_treatments}: a connected network needs at "
                               "least n_treatments - 1 studies. Fix: raise n_studies or lower n_treatments")
    rng = np.random.default_rng(seed)
    names = [f"T{i + 1:02d}" for i in range(n_treatments)]
    d = np.concatenate([[0.0], rng.normal(0.0, 0.5, n_treatments - 1)])
    rows = []
    for s in range(n_studies):
        if s < n_treatments - 1:
            arms = [int(rng.integers(0, s + 1)), s + 1]
        else:
            k = 3 if rng.random() < share_three_arm and n_treatments >= 3 else 2
            arms = list(rng.choice(n_treatments, size=k, replace=False))
        k = len(arms) - 1
        C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
        delta = d[arms[1:]] - d[arms[0]] + rng.multivariate_normal(np.zeros(k), tau**2 * C) if tau > 0 else d[arms[1:]] - d[arms[0]]
        se = rng.uniform(*se_range, size=k)
        ref_se = 0.6 * se.min() if k > 1 else np.nan
        V = np.diag(se**2)
        if k > 1:
            V = V + ref_se**2 * (1 - np.eye(k))
        y = delta + rng.multivariate_normal(np.zeros(k), V)
        study = f"S{s + 1:03d}"
        rows.append({"study": study, "treatment": names[arms[0]], "y": np.nan, "se": ref_se})
        rows += [{"study": study, "treatment": names[a], "y": y[i], "se": se[i]} for i, a in enumerate(arms[1:])]
    table = pd.DataFrame(rows)
    return table if inconsistency == 0 else shift_direct(table, inconsistency)


def shifted_comparison(table: pd.DataFrame) -> tuple[str, str] | None:
    """The comparison `inconsistency` shifts: (x, y), y's effect against x, x < y by name.

    Among pairs compared only in two-arm trials (so the whole direct estimate is shifted, not diluted by
    a multi-arm trial) that stay connected once those trials are removed (so node-splitting splits them; van
    Valkenhoef et al. 2016), the one with most trials (ties: first by name). None when there is no such loop.
    Depends only on the table's structure.
    """
    arms = {s: frozenset(g) for s, g in table.groupby("study", sort=False)["treatment"]}
    counts: dict[tuple[str, str], int] = {}
    for a in arms.values():
        if len(a) == 2:
            pair = tuple(sorted(a))
            counts[pair] = counts.get(pair, 0) + 1
    in_multi = {p for p in counts if any(len(a) > 2 and set(p) <= a for a in arms.values())}
    for pair in sorted(set(counts) - in_multi, key=lambda p: (-counts[p], p)):
        rest = nx.Graph([(u, v) for a in arms.values() if not set(pair) <= a for u in a for v in a if u < v])
        if pair[0] in rest and pair[1] in rest and nx.has_path(rest, *pair):
            return pair
    return None


def shift_direct(table: pd.DataFrame, shift: float) -> pd.DataFrame:
    """Add `shift` to y-vs-x in every two-arm x-y trial, (x, y) = shifted_comparison(table)."""
    pair = shifted_comparison(table)
    if pair is None:
        raise NetworkDataError("table: the network has no loop of independent evidence to make inconsistent. Fix: "
                               "generate it with more studies or another seed")
    x, y = pair
    out = table.copy()
    for _, g in out.groupby("study", sort=False):
        if set(g["treatment"]) == {x, y} and len(g) == 2:
            row = g.index[g["y"].notna()][0]
            out.loc[row, "y"] += shift if out.loc[row, "treatment"] == y else -shift
    return out
