"""Heterogeneity-prior sensitivity and the "tau is not identified" rule, against closed forms and quadrature."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import exact_draws, parkinsons, tsd2_spec
from scipy import integrate, stats

from nma.checks.sensitivity import (
    DEFAULT_TAU_PRIORS,
    FIXED_EFFECT,
    heterogeneity_sensitivity,
    tau_not_identified,
    tau_sd_ratio,
)
from nma.core.network import Network
from nma.models.exact import fit_exact
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec

PROBS = (0.025, 0.5, 0.975)


def test_fixed_effect_row_is_the_gls_closed_form():
    net = parkinsons()
    X, y, V = net.design, net.y, net.covariance
    sd = 100.0
    precision = X.T @ np.linalg.inv(V) @ X + np.eye(X.shape[1]) / sd**2
    cov = np.linalg.inv(precision)
    mean = cov @ X.T @ np.linalg.inv(V) @ y
    table = heterogeneity_sensitivity(net, tsd2_spec("random"), PROBS, settings=exact_draws(seed=1, n=2000))[0]
    fe = table[table["prior"] == FIXED_EFFECT].set_index("treatment")
    z = stats.norm.ppf(0.975)
    for i, t in enumerate(net.treatments[1:]):
        assert fe.loc[t, "hr_median"] == pytest.approx(math.exp(mean[i]), rel=1e-8)
        assert fe.loc[t, "hr_lower"] == pytest.approx(math.exp(mean[i] - z * math.sqrt(cov[i, i])), rel=1e-7)
        assert fe.loc[t, "hr_upper"] == pytest.approx(math.exp(mean[i] + z * math.sqrt(cov[i, i])), rel=1e-7)
    assert fe["tau_median"].isna().all()


def test_table_layout():
    net = parkinsons()
    table = heterogeneity_sensitivity(net, tsd2_spec("random"), PROBS, settings=exact_draws(seed=1, n=2000))[0]
    priors = list(dict.fromkeys(table["prior"]))
    assert priors == ["uniform(0, 5)", *DEFAULT_TAU_PRIORS, FIXED_EFFECT]     # the analysis's own prior first
    assert table.groupby("prior")["p_best"].sum().to_numpy() == pytest.approx(np.ones(len(priors)))
    assert table.loc[table["treatment"] == net.reference, "hr_median"].isna().all()
    assert table.loc[table["analysis"], "prior"].unique().tolist() == ["uniform(0, 5)"]
    spec = ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=parse_tau_prior("half-normal(0.5)"))
    again = heterogeneity_sensitivity(net, spec, PROBS, settings=exact_draws(seed=1, n=2000))[0]
    assert list(dict.fromkeys(again["prior"])) == [*DEFAULT_TAU_PRIORS, FIXED_EFFECT]   # not listed twice
    assert again.loc[again["analysis"], "prior"].unique().tolist() == ["half-normal(0.5)"]


@pytest.mark.parametrize("text", ["half-normal(0.5)", "uniform(0, 2)", "turner2015_general", "log-normal(-3.9, 1.5)"])
def test_prior_sd_by_quadrature(text):
    prior = parse_tau_prior(text)
    top = prior.ppf(1 - 1e-12)
    dens = lambda t: math.exp(prior.logpdf(t)) if t > 0 else 0.0  # noqa: E731
    m1 = integrate.quad(lambda t: t * dens(t), 0, top, limit=400, points=[prior.ppf(0.5)])[0]
    m2 = integrate.quad(lambda t: t * t * dens(t), 0, top, limit=400, points=[prior.ppf(0.5)])[0]
    assert prior.sd == pytest.approx(math.sqrt(m2 - m1**2), rel=1e-4)


def single_trial() -> Network:
    return Network.from_contrasts(pd.DataFrame({"study": ["S1", "S1"], "treatment": ["A", "B"], "y": [np.nan, -0.3],
                                                "se": [np.nan, 0.2]}), reference="A")


def test_single_trial_network_does_not_identify_tau():
    """One trial: y ~ N(d, se^2 + tau^2) with d ~ N(0, 100^2), so p(y | tau) is flat in tau to ~1e-6 and the
    posterior of tau is its prior: SD ratio 1 (closed form), and both parts of the rule say so."""
    net = single_trial()
    assert tau_not_identified(net) == "no comparison has more than one trial"
    prior = parse_tau_prior("half-normal(0.5)")
    post = fit_exact(net, ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=prior))
    # 1 in closed form; the engine's 512-node trapezoid in the prior's probability scale ends at the prior's
    # 1 - 1e-9 quantile, which inflates a prior-like posterior's SD by 2.7% (the same rule applied to the prior alone)
    assert tau_sd_ratio(post, prior) == pytest.approx(1.0, abs=0.03)
    assert tau_not_identified(net, prior, post) == "no comparison has more than one trial"


def test_sd_ratio_rule_beyond_the_structure():
    """Parkinson's has two comparisons with two trials. Under uniform(0, 5) the data narrow tau (TSD2: posterior
    95% CrI 0.01 to 1.5, prior SD 1.44); a half-normal(0.1) prior is barely moved by seven trials."""
    net = parkinsons()
    assert tau_not_identified(net) is None
    wide = parse_tau_prior("uniform(0, 5)")
    post = fit_exact(net, ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=wide))
    assert tau_sd_ratio(post, wide) < 0.5
    assert tau_not_identified(net, wide, post) is None
    tight = parse_tau_prior("half-normal(0.1)")
    post = fit_exact(net, ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=tight))
    assert tau_sd_ratio(post, tight) > 0.9
    assert "above 0.9" in tau_not_identified(net, tight, post)


def test_half_cauchy_uses_interquartile_ranges():
    net = single_trial()
    prior = parse_tau_prior("half-cauchy(0.5)")
    post = fit_exact(net, ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=prior))
    assert math.isinf(prior.sd)
    assert tau_sd_ratio(post, prior) == pytest.approx(1.0, abs=0.02)   # quartiles interpolated between grid nodes
