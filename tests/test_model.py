"""The PyMC model's log-density at a point against scipy, with no sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import parkinsons
from scipy import stats

from nma.models.normal import study_log_likelihood
from nma.models.normal_pymc import build_model
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec

D = np.array([-1.8, -0.5, -0.5, -0.8])
#: PyMC's normal log-density carries its -log(sqrt(2 pi)) constant in single precision: measured 3.2e-8 per
#: term against scipy (13 terms here at most), so 1e-6 absolute; any modelling error is orders larger.
LOGP_ATOL = 1e-6


def scipy_loglik(net, d, tau):
    """Independent: one scipy multivariate normal per study, with the TSD2 covariance V_s + tau^2 C_s."""
    out = []
    for rows in net.blocks:
        k = len(rows)
        C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
        out.append(stats.multivariate_normal.logpdf(net.y[rows], net.design[rows] @ d,
                                                    net.covariance[np.ix_(rows, rows)] + tau**2 * C))
    return np.array(out)


@pytest.mark.parametrize(
    "prior, value_var, transform, tau_logpdf",
    [
        ("uniform(0, 5)", "tau_interval__", lambda t: math.log(t / (5 - t)), lambda t: stats.uniform.logpdf(t, 0, 5)),
        ("half-normal(0.5)", "tau_log__", math.log, lambda t: stats.halfnorm.logpdf(t, scale=0.5)),
        ("half-cauchy(0.3)", "tau_log__", math.log, lambda t: stats.halfcauchy.logpdf(t, scale=0.3)),
        ("log-normal(-2.56, 1.74)", "tau_sq_log__", lambda t: math.log(t**2),
         lambda t: stats.lognorm.logpdf(t**2, s=1.74, scale=math.exp(-2.56))),
    ],
)
def test_random_effects_logp_matches_scipy(prior, value_var, transform, tau_logpdf):
    net = parkinsons()
    model = build_model(net, ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=parse_tau_prior(prior)), "direct")
    tau = 0.7
    logp = model.compile_logp(jacobian=False)({"d": D, value_var: transform(tau)})
    expected = stats.norm.logpdf(D, 0, 100).sum() + tau_logpdf(tau) + scipy_loglik(net, D, tau).sum()
    assert logp == pytest.approx(expected, abs=LOGP_ATOL)


def test_fixed_effect_logp_matches_scipy():
    net = parkinsons()
    model = build_model(net, ModelSpec(effects="fixed", d_prior_sd=10.0), "direct")
    logp = model.compile_logp()({"d": D})
    assert logp == pytest.approx(stats.norm.logpdf(D, 0, 10).sum() + scipy_loglik(net, D, 0.0).sum(), abs=LOGP_ATOL)


@pytest.mark.parametrize("parameterisation", ["conditional", "direct"])
def test_gradient_is_finite_at_initial_point(parameterisation):
    model = build_model(parkinsons(), ModelSpec(effects="random"), parameterisation)
    grad = model.compile_dlogp()(model.initial_point())
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("prior", ["uniform(0, 5)", "half-normal(0.5)"])
def test_conditional_tau_likelihood_is_the_marginal_of_y(prior):
    """log p(y | tau) with d integrated out, against scipy's MVN of y with covariance Sigma(tau) + s^2 X X^T
    (differences across tau, so constants cancel)."""
    net = parkinsons()
    p = parse_tau_prior(prior)
    model = build_model(net, ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=p), "conditional")
    logp = model.compile_logp(jacobian=False)
    name = "tau_interval__" if p.kind == "uniform" else "tau_log__"
    to_value = (lambda t: math.log(t / (5 - t))) if p.kind == "uniform" else math.log
    X, C = net.design, net.multi_arm_correlation

    def scipy_marginal(t):
        return stats.multivariate_normal.logpdf(net.y, np.zeros(8), net.covariance + t**2 * C + 100.0**2 * X @ X.T)

    for t1, t2 in [(0.1, 0.9), (0.4, 1.7)]:
        got = logp({"z": np.zeros(4), name: to_value(t1)}) - logp({"z": np.zeros(4), name: to_value(t2)})
        want = (scipy_marginal(t1) + p.logpdf(t1)) - (scipy_marginal(t2) + p.logpdf(t2))
        assert got == pytest.approx(want, abs=1e-8)


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_conditional_parameterisation_is_the_same_posterior(effects):
    """In (z, tau) the joint density is exactly N(z; 0, I) x p(tau | y): so logp(z) - logp(0) = -|z|^2 / 2,
    and d at z = 0 is the conditional posterior mean, d - m has covariance P^-1 (checked against a plain
    NumPy GLS at the same tau)."""
    net = parkinsons()
    spec = ModelSpec(effects=effects, d_prior_sd=100.0, tau_prior=parse_tau_prior("uniform(0, 5)"))
    model = build_model(net, spec, "conditional")
    logp = model.compile_logp()
    tau = 0.6
    point = {} if effects == "fixed" else {"tau_interval__": math.log(tau / (5 - tau))}
    z = np.array([0.3, -1.2, 0.8, 2.0])
    gap = logp({**point, "z": z}) - logp({**point, "z": np.zeros(4)})
    assert gap == pytest.approx(-0.5 * z @ z, abs=1e-9)
    d_expr = model.replace_rvs_by_values([model["d"]])[0]
    d_of = model.compile_fn(d_expr, inputs=model.value_vars, on_unused_input="ignore", point_fn=True)
    t2 = tau**2 if effects == "random" else 0.0
    S = net.covariance + t2 * net.multi_arm_correlation
    Si = np.linalg.inv(S)
    P = net.design.T @ Si @ net.design + np.eye(4) / 100.0**2
    m = np.linalg.solve(P, net.design.T @ Si @ net.y)
    np.testing.assert_allclose(d_of({**point, "z": np.zeros(4)}), m, rtol=1e-9)
    J = np.column_stack([d_of({**point, "z": e}) - m for e in np.eye(4)])   # d = m + J z
    np.testing.assert_allclose(J @ J.T, np.linalg.inv(P), rtol=1e-8)


def test_named_dims():
    model = build_model(parkinsons(), ModelSpec(effects="random"))
    assert model.named_vars_to_dims["d"] == ("treatment",)
    assert list(model.coords["treatment"]) == ["2", "3", "4", "5"]
    assert list(model.coords["study"]) == ["1", "2", "3", "4", "5", "6", "7"]


def test_pointwise_log_likelihood_per_study():
    net = parkinsons()
    d = np.vstack([D, D + 0.1])
    tau = np.array([0.7, 0.2])
    ll = study_log_likelihood(net, d, tau)
    assert ll.shape == (2, 7)
    np.testing.assert_allclose(ll[0], scipy_loglik(net, D, 0.7), rtol=1e-10)
    np.testing.assert_allclose(ll[1], scipy_loglik(net, D + 0.1, 0.2), rtol=1e-10)
