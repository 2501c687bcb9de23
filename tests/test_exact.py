"""The exact engine against independent answers: GLS closed form, brute-force quadrature, TSD2 Example 7."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import parkinsons, tsd2_published, tsd2_spec
from scipy import stats

from nma.core.network import Network
from nma.core.synthetic import synthetic_network
from nma.models.exact import exact_relative_effects, fit_exact, mixture_quantile
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec

PROBS = (0.025, 0.5, 0.975)


def test_fixed_effect_is_the_conjugate_normal():
    net = parkinsons()
    X, y, V = net.design, net.y, net.covariance
    Vinv = np.linalg.inv(V)  # full inverse, not the block-wise one the engine uses
    precision = X.T @ Vinv @ X + np.eye(4) / 10.0**2
    mean = np.linalg.solve(precision, X.T @ Vinv @ y)
    post = fit_exact(net, ModelSpec(effects="fixed", d_prior_sd=10.0))
    np.testing.assert_allclose(post.mean[0], mean, rtol=1e-10)
    np.testing.assert_allclose(post.cov[0], np.linalg.inv(precision), rtol=1e-9)


def brute_force_tau(net, prior_text, sd=100.0, grid=20001, top=5.0):
    """Independent quadrature: tau on a uniform grid, d integrated out through the marginal MVN of y."""
    prior = parse_tau_prior(prior_text)
    X, y, V, C = net.design, net.y, net.covariance, net.multi_arm_correlation
    taus = np.linspace(1e-9, top, grid)
    logp = np.array([stats.multivariate_normal.logpdf(y, np.zeros(len(y)), V + t**2 * C + sd**2 * X @ X.T) for t in taus])
    logp += prior.logpdf(taus)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    cdf = np.cumsum(w)
    return (w * taus).sum(), [taus[np.searchsorted(cdf, q)] for q in PROBS]


@pytest.mark.parametrize("prior", ["uniform(0, 5)", "half-normal(0.5)"])
def test_tau_posterior_matches_brute_force(prior):
    net = parkinsons()
    spec = ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=parse_tau_prior(prior))
    s = fit_exact(net, spec).tau_summary(PROBS)
    mean, qs = brute_force_tau(net, prior)
    assert s["mean"] == pytest.approx(mean, abs=1e-3)
    for q, expected in zip(PROBS, qs):
        assert s[q] == pytest.approx(expected, abs=2e-3)  # brute grid step 2.5e-4, plus interpolation


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_tsd2_example7_published(effects):
    pub = tsd2_published()
    tol = pub["tolerance"]["value"]
    post = fit_exact(parkinsons(), tsd2_spec(effects))
    rel = exact_relative_effects(post, PROBS).set_index(["treatment", "comparator"])
    for t, (mean, sd) in pub[effects]["d"].items():
        assert rel.loc[(t, "1"), "mean"] == pytest.approx(mean, abs=tol)
        assert rel.loc[(t, "1"), "sd"] == pytest.approx(sd, abs=tol)
    if effects == "random":
        lo, hi = pub["random"]["d2_crI"]
        assert rel.loc[("2", "1"), "lower"] == pytest.approx(lo, abs=tol)
        assert rel.loc[("2", "1"), "upper"] == pytest.approx(hi, abs=tol)
        s = post.tau_summary(PROBS)
        assert s[0.5] == pytest.approx(pub["random"]["tau_median"], abs=tol)
        assert s[0.025] == pytest.approx(pub["random"]["tau_crI"][0], abs=tol)
        assert s[0.975] == pytest.approx(pub["random"]["tau_crI"][1], abs=tol)


def test_mixture_quantile_of_one_normal_is_normal_quantile():
    w = np.array([1.0])
    m, s = np.array([[0.3, -1.0]]), np.array([[0.5, 2.0]])
    for q in PROBS:
        x = mixture_quantile(w, m, s, q, m[0], s[0])
        np.testing.assert_allclose(x, stats.norm.ppf(q, m[0], s[0]), rtol=1e-10)


def test_mixture_quantile_two_components():
    w = np.array([0.3, 0.7])
    m, s = np.array([[0.0], [1.0]]), np.array([[1.0], [0.5]])
    x = mixture_quantile(w, m, s, 0.9, np.array([0.7]), np.array([0.8]))
    cdf = 0.3 * stats.norm.cdf(x, 0, 1) + 0.7 * stats.norm.cdf(x, 1, 0.5)
    assert cdf[0] == pytest.approx(0.9, abs=1e-12)


def test_pairwise_effects_are_antisymmetric():
    post = fit_exact(parkinsons(), tsd2_spec("random"))
    rel = exact_relative_effects(post, PROBS).set_index(["treatment", "comparator"])
    for (t, c), row in rel.iterrows():
        other = rel.loc[(c, t)]
        assert row["mean"] == pytest.approx(-other["mean"], abs=1e-12)
        assert row["lower"] == pytest.approx(-other["upper"], abs=1e-9)


def test_exact_draws_match_exact_moments():
    net = Network.from_contrasts(synthetic_network(6, 15, seed=3))
    post = fit_exact(net, ModelSpec(effects="random"))
    d, tau = post.sample(40000, np.random.default_rng(1))
    mean = (post.weight[:, None] * post.mean).sum(0)
    se = d.std(0) / np.sqrt(len(d))
    assert np.all(np.abs(d.mean(0) - mean) < 4 * se)
    assert tau.mean() == pytest.approx(post.tau_summary(PROBS)["mean"], rel=0.02)


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_tsd2_example7_model_fit(effects):
    """Residual deviance, pD and DIC against TSD2's published fit, from exact posterior draws."""
    from nma.models.normal import model_fit

    pub = tsd2_published()["fit"]
    post = fit_exact(parkinsons(), tsd2_spec(effects))
    d, tau = post.sample(40000, np.random.default_rng(1))
    _, totals = model_fit(parkinsons(), d, tau if effects == "random" else None)
    for key in ("resdev", "pD", "DIC"):
        assert totals[key] == pytest.approx(pub[effects][key], abs=pub["tolerance"])
    assert totals["n_datapoints"] == 8


def test_fixed_effect_pd_is_number_of_parameters():
    """Closed form: under a vague prior the FE posterior of d is Gaussian, so pD = tr(V^-1 X Cov X') = T - 1."""
    from nma.models.normal import model_fit

    net = Network.from_contrasts(synthetic_network(6, 14, seed=2, tau=0.0))
    post = fit_exact(net, ModelSpec(effects="fixed", d_prior_sd=100.0))
    d, _ = post.sample(60000, np.random.default_rng(2))
    _, totals = model_fit(net, d, None)
    assert totals["pD"] == pytest.approx(5.0, abs=0.1)


def test_predictive_interval_matches_simulation():
    """Mixture inversion of the new-trial predictive against simulation from the exact posterior."""
    net = parkinsons()
    post = fit_exact(net, tsd2_spec("random"))
    rel = exact_relative_effects(post, PROBS).set_index(["treatment", "comparator"])
    d, tau = post.sample(200000, np.random.default_rng(5))
    new = d[:, 0] + tau * np.random.default_rng(6).standard_normal(len(tau))   # d(2 vs 1) in a new trial
    lo, hi = np.quantile(new, [0.025, 0.975])
    assert rel.loc[("2", "1"), "pred_lower"] == pytest.approx(lo, abs=0.03)
    assert rel.loc[("2", "1"), "pred_upper"] == pytest.approx(hi, abs=0.03)
    assert rel.loc[("2", "1"), "pred_lower"] < rel.loc[("2", "1"), "lower"]
    fe = exact_relative_effects(fit_exact(net, tsd2_spec("fixed")), PROBS)
    assert "pred_lower" not in fe
