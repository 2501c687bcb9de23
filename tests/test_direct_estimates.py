"""Direct estimates (league table's direct triangle, node-split's direct rows) against independent answers: a single
trial's published HR and CI, and a two-trial pooled posterior computed here by brute-force quadrature over the full
network's tau posterior (its marginal likelihood from scipy's multivariate normal, not from the exact engine)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from nma.checks.inconsistency import node_split
from nma.core.network import Network
from nma.models.exact import DIRECT_RULE, direct_estimates, fit_exact
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec

PROBS = (0.025, 0.5, 0.975)
Z = stats.norm.ppf(0.975)
D_SD = 10.0
RE = ModelSpec(effects="random", d_prior_sd=D_SD, tau_prior=parse_tau_prior("half-normal(0.5)"))

#: Two-arm trials (study, comparator, treatment, y = log HR of treatment vs comparator, se). B vs A has two trials
#: that disagree (y -0.6 and 0.1), and the loop A-B-C plus a second A-C pair informs tau beyond its prior.
TRIALS = [("AB1", "A", "B", -0.60, 0.12), ("AB2", "A", "B", 0.10, 0.15), ("BC1", "B", "C", -0.20, 0.20),
          ("AC1", "A", "C", -0.50, 0.18), ("AC2", "A", "C", 0.20, 0.20)]


def network() -> Network:
    rows = []
    for s, a, b, y, se in TRIALS:
        rows += [{"study": s, "treatment": a, "y": np.nan, "se": np.nan}, {"study": s, "treatment": b, "y": y, "se": se}]
    return Network.from_contrasts(pd.DataFrame(rows), reference="A")


def cell(table: pd.DataFrame, t: str, c: str) -> pd.Series:
    return table.set_index(["treatment", "comparator"]).loc[(t, c)]


def test_one_trial_comparison_is_that_trials_published_hr_and_ci():
    """EMILIA's final OS as printed, HR 0.75 (0.64 to 0.88), beside a second trial: its direct cell shows exactly it."""
    df = pd.DataFrame({"study": ["EMILIA", "EMILIA", "OTHER", "OTHER"], "treatment": ["l_cap", "tdm1", "l_cap", "x"],
                       "hr": [np.nan, 0.75, np.nan, 0.9], "ci_lower": [np.nan, 0.64, np.nan, 0.7],
                       "ci_upper": [np.nan, 0.88, np.nan, 1.15]})
    net = Network.from_ratios(df, "HR", reference="l_cap")
    d = cell(direct_estimates(net, RE, PROBS), "tdm1", "l_cap")
    y, se = np.log(0.75), (np.log(0.88) - np.log(0.64)) / (2 * Z)
    assert d["mean"] == pytest.approx(y, abs=1e-12) and d["median"] == pytest.approx(y, abs=1e-9)
    assert d["sd"] == pytest.approx(se, rel=1e-12)             # no random-effects widening
    assert np.exp(d["lower"]) == pytest.approx(0.64, abs=0.005)  # the published CI, to its printed decimals
    assert np.exp(d["upper"]) == pytest.approx(0.88, abs=0.005)
    assert d["n_studies"] == 1


def test_one_trial_in_a_random_effects_network_is_not_widened():
    d = cell(direct_estimates(network(), RE, PROBS), "C", "B")
    assert d["mean"] == pytest.approx(-0.20, abs=1e-12)
    assert d["sd"] == pytest.approx(0.20, rel=1e-12)
    assert d["lower"] == pytest.approx(-0.20 - Z * 0.20, abs=1e-9)
    assert cell(direct_estimates(network(), RE, PROBS), "B", "C")["mean"] == pytest.approx(0.20, abs=1e-12)


def brute_force_tau_posterior() -> tuple[np.ndarray, np.ndarray]:
    """The full network's tau posterior on a fine grid: y ~ MVN(0, V + tau^2 I + D_SD^2 X X') times the prior."""
    y = np.array([t[3] for t in TRIALS])
    V = np.diag([t[4] ** 2 for t in TRIALS])
    col = {"B": 0, "C": 1}
    X = np.zeros((len(TRIALS), 2))
    for r, (_, a, b, _, _) in enumerate(TRIALS):
        X[r, col[b]] += 1
        if a in col:
            X[r, col[a]] -= 1
    taus = np.linspace(1e-6, 3.0, 3001)
    logw = np.array([stats.multivariate_normal.logpdf(y, np.zeros(len(y)), V + t**2 * np.eye(len(y)) + D_SD**2 * X @ X.T)
                     for t in taus]) + stats.halfnorm.logpdf(taus, scale=0.5)
    w = np.exp(logw - logw.max())
    return taus, w / w.sum()


def test_two_trial_comparison_pools_with_the_networks_tau_posterior():
    taus, w = brute_force_tau_posterior()
    y, se = np.array([-0.60, 0.10]), np.array([0.12, 0.15])

    def cdf(x: float) -> float:                  # P(d < x) = sum_tau w(tau) Phi((x - m(tau)) / s(tau))
        iv = 1 / (se[None] ** 2 + taus[:, None] ** 2)
        m, s = (iv * y).sum(1) / iv.sum(1), iv.sum(1) ** -0.5
        return float(w @ stats.norm.cdf((x - m) / s))

    expected = {q: optimize.brentq(lambda x: cdf(x) - q, -5, 5, xtol=1e-12) for q in PROBS}
    mean = integrate.quad(lambda x: 1 - cdf(x), 0, 5)[0] - integrate.quad(cdf, -5, 0)[0]
    got = cell(direct_estimates(network(), RE, PROBS), "B", "A")
    assert got["n_studies"] == 2
    assert got["mean"] == pytest.approx(mean, abs=2e-4)
    for col, q in zip(("lower", "median", "upper"), PROBS):
        assert got[col] == pytest.approx(expected[q], abs=2e-3)
    # and it is not the prior-only answer: pooling under tau's half-normal(0.5) prior gives a different interval
    prior_w = stats.halfnorm.pdf(taus, scale=0.5)
    prior_w /= prior_w.sum()
    iv = 1 / (se[None] ** 2 + taus[:, None] ** 2)
    m, s = (iv * y).sum(1) / iv.sum(1), iv.sum(1) ** -0.5
    prior_upper = optimize.brentq(lambda x: float(prior_w @ stats.norm.cdf((x - m) / s)) - 0.975, -5, 5)
    assert abs(prior_upper - expected[0.975]) > 0.02


def test_fitted_posterior_is_used_when_given_and_fixed_effect_pools_by_inverse_variance():
    net = network()
    post = fit_exact(net, RE)
    given = direct_estimates(net, RE, PROBS, posterior=post)
    pd.testing.assert_frame_equal(given, direct_estimates(net, RE, PROBS))
    fe = cell(direct_estimates(net, ModelSpec(effects="fixed", d_prior_sd=D_SD), PROBS), "B", "A")
    w = 1 / np.array([0.12, 0.15]) ** 2
    assert fe["mean"] == pytest.approx(w @ [-0.60, 0.10] / w.sum(), abs=1e-12)
    assert fe["sd"] == pytest.approx(w.sum() ** -0.5, rel=1e-12)


def test_node_split_direct_rows_are_the_direct_estimates():
    net = network()
    table = node_split(net, RE, PROBS)[0]
    direct = direct_estimates(net, RE, PROBS)
    for t, c in (("B", "A"), ("C", "A"), ("C", "B")):
        r = table[(table.treatment == t) & (table.comparator == c) & (table.estimate == "direct")].iloc[0]
        d = cell(direct, t, c)
        for col in ("mean", "sd", "lower", "median", "upper"):
            assert r[col] == pytest.approx(d[col], abs=1e-12)


def test_the_rule_is_stated_for_captions():
    assert "one trial" in DIRECT_RULE and "posterior from the full network" in DIRECT_RULE
