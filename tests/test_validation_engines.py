"""MCMC against the exact engine, fixed and random effects, with and without multi-arm trials (slow: these sample).

Tolerances: means within 4 Monte Carlo standard errors (ArviZ's MCSE of the mean), SDs within 5%
(the issue's acceptance; with bulk ESS > 2000 the SD's own Monte Carlo error is about 1.5%). A file of its own so
that `make test` can run it beside tests/test_validation.py on the second core.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from helpers import mcmc, parkinsons

from nma.core.network import Network
from nma.core.synthetic import synthetic_network
from nma.models.exact import fit_exact
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec

pytestmark = pytest.mark.slow


def compare(net: Network, spec: ModelSpec, idata) -> None:
    post = fit_exact(net, spec)
    exact_mean = (post.weight[:, None] * post.mean).sum(0)
    exact_var = (post.weight[:, None] * (np.diagonal(post.cov, axis1=1, axis2=2) + post.mean**2)).sum(0) - exact_mean**2
    d = idata.posterior["d"]
    mcse = az.mcse(idata, var_names=["d"], method="mean")["d"].to_numpy()
    got_mean = d.mean(("chain", "draw")).to_numpy()
    assert np.all(np.abs(got_mean - exact_mean) < 4 * mcse), (got_mean, exact_mean, mcse)
    np.testing.assert_allclose(d.std(("chain", "draw")).to_numpy(), np.sqrt(exact_var), rtol=0.05)
    if spec.effects == "random":
        tau = idata.posterior["tau"]
        tau_mcse = float(az.mcse(idata, var_names=["tau"], method="mean")["tau"])
        exact_tau = post.tau_summary((0.5,))["mean"]
        assert abs(float(tau.mean()) - exact_tau) < 4 * tau_mcse


CASES = {
    "fixed, multi-arm (TSD2 Ex 7)": (lambda: parkinsons(), ModelSpec(effects="fixed", d_prior_sd=100.0)),
    "random, multi-arm (TSD2 Ex 7)": (lambda: parkinsons(),
                                      ModelSpec(effects="random", d_prior_sd=10.0, tau_prior=parse_tau_prior("half-normal(0.5)"))),
    "random, two-arm only": (lambda: Network.from_contrasts(synthetic_network(5, 12, share_three_arm=0.0, tau=0.2, seed=5)),
                             ModelSpec(effects="random", tau_prior=parse_tau_prior("half-normal(0.5)"))),
    "random, 3-arm share, log-normal prior": (
        lambda: Network.from_contrasts(synthetic_network(6, 14, share_three_arm=0.4, tau=0.15, seed=8)),
        ModelSpec(effects="random", tau_prior=parse_tau_prior("turner2015_general"))),
    "fixed, 3-arm share": (lambda: Network.from_contrasts(synthetic_network(6, 14, share_three_arm=0.4, tau=0.0, seed=9)),
                           ModelSpec(effects="fixed")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_mcmc_agrees_with_exact(case):
    make, spec = CASES[case]
    net = make()
    compare(net, spec, mcmc(net, spec))
