"""Prior parsing, plain-words descriptions, and densities that integrate to one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from nma.errors import ModelSpecError, ModelWarning
from nma.models.priors import PRESETS, parse_tau_prior
from nma.models.spec import ModelSpec


@pytest.mark.parametrize("text", ["half-normal(0.5)", "uniform(0, 5)", "half-cauchy(0.25)", "log-normal(-3.95, 1.34)",
                                  "turner2015_general"])
def test_tau_density_integrates_to_one(text):
    prior = parse_tau_prior(text)
    total, _ = integrate.quad(lambda t: math.exp(prior.logpdf(t)), 0, prior.upper if math.isfinite(prior.upper) else np.inf,
                              limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_ppf_inverts_cdf():
    prior = parse_tau_prior("log-normal(-2.56, 1.74)")
    # tau^2 ~ LN(-2.56, 1.74): the median of tau is exp(-2.56 / 2)
    assert prior.ppf(0.5) == pytest.approx(math.exp(-1.28))
    assert parse_tau_prior("half-normal(0.5)").ppf(0.95) == pytest.approx(0.5 * stats.norm.ppf(0.975))


def test_presets_are_the_published_ones():
    assert PRESETS["turner2015_general"] == (-2.56, 1.74)
    assert PRESETS["turner2015_mortality_pharm_vs_placebo"] == (-3.95, 1.34)
    assert "Stat Med 2015" in parse_tau_prior("turner2015_general").describe()


@pytest.mark.parametrize(
    "text, message",
    [
        ("halfnormal 0.5", r"cannot be parsed. Write one of: half-normal\(s\)"),
        ("gamma(1, 2)", r"unknown distribution 'gamma'"),
        ("half-normal(-1)", r"the scale must be positive"),
        ("uniform(1, 5)", r"use uniform\(0, u\) with u > 0"),
        ("uniform(5)", r"uniform takes 2 parameter\(s\), got 1"),
        ("log-normal(-2, 0)", r"sigma must be positive"),
    ],
)
def test_bad_prior_strings(text, message):
    with pytest.raises(ModelSpecError, match=message):
        parse_tau_prior(text)


def test_defaults_are_announced_and_listed():
    with pytest.warns(ModelWarning, match=r"Prior distributions were left at default values: .*d_prior_sd = 10.*tau_prior = \"half-normal\(0.5\)\""):
        spec = ModelSpec.from_config({"effects": "random"})
    assert "half-normal with scale 0.5" in spec.describe()


def test_no_warning_when_priors_given(recwarn):
    ModelSpec.from_config({"effects": "fixed", "d_prior_sd": 10})
    assert not [w for w in recwarn if issubclass(w.category, ModelWarning)]
