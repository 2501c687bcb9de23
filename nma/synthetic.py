"""Seedable synthetic contrast networks, for benchmarks and validation tests (never for analyses)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_network(n_treatments: int, n_studies: int, *, share_three_arm: float = 0.2, tau: float = 0.2,
                      seed: int = 0, se_range: tuple[float, float] = (0.1, 0.3)) -> pd.DataFrame:
    """A connected contrast table in the canonical format.

    The first T-1 studies form a spanning tree (each new treatment against an earlier one), so the network
    is connected; the rest pick random treatment pairs (or triples, with probability `share_three_arm`).
    True log-HRs d_t ~ N(0, 0.5^2); trial effects add N(0, tau^2) heterogeneity (correlation 0.5 in multi-arm
    trials); observed y add sampling error with SEs uniform on `se_range`.
    """
    if n_studies < n_treatments - 1:
        raise ValueError("need at least T - 1 studies for a connected network")
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
    return pd.DataFrame(rows)
