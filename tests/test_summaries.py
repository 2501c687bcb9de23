"""Summaries on posteriors built by hand (no MCMC): relative effects, ranks, SUCRA invariants."""

from __future__ import annotations

import numpy as np
import pytest

from nma.posterior.summaries import add_ratio_scale, ranks, relative_effects


def test_constant_posterior_relative_effect():
    draws = np.tile([0.0, 0.7, -0.2], (10, 1))
    rel = relative_effects(draws, ("A", "B", "C")).set_index(["treatment", "comparator"])
    assert rel.loc[("B", "A"), "median"] == pytest.approx(0.7)
    assert rel.loc[("B", "C"), "mean"] == pytest.approx(0.9)
    assert add_ratio_scale(rel).loc[("B", "A"), "exp_median"] == pytest.approx(np.exp(0.7))
    assert len(rel) == 6


def test_deterministic_ranking():
    draws = np.tile([0.0, 0.7, -0.2], (10, 1))  # log-HR: C best (lowest), then A, then B
    r = ranks(draws, ("A", "B", "C"), lower_is_better=True).set_index("treatment")
    assert r.loc["C", "mean_rank"] == 1 and r.loc["A", "mean_rank"] == 2 and r.loc["B", "mean_rank"] == 3
    assert r.loc["C", "sucra"] == 1 and r.loc["A", "sucra"] == 0.5 and r.loc["B", "sucra"] == 0
    assert r.loc["C", "p_best"] == 1
    r2 = ranks(draws, ("A", "B", "C"), lower_is_better=False).set_index("treatment")
    assert r2.loc["B", "mean_rank"] == 1


def test_rank_invariants_on_random_draws():
    rng = np.random.default_rng(0)
    draws = np.column_stack([np.zeros(4000), rng.normal([0.1, -0.3, 0.2, 0.0], 0.3, (4000, 4))])
    r = ranks(draws, tuple("ABCDE"))
    p = r[[f"p_rank_{k}" for k in range(1, 6)]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1)         # each treatment takes some rank
    np.testing.assert_allclose(p.sum(0), 1)         # each rank is taken by one treatment
    assert r["mean_rank"].sum() == pytest.approx(15)  # 1 + 2 + ... + 5
    # SUCRA = (T - mean rank) / (T - 1), the usual cumulative-rankogram definition
    np.testing.assert_allclose(r["sucra"], (5 - r["mean_rank"]) / 4)
    assert r.set_index("treatment").loc["C", "p_best"] > 0.5
