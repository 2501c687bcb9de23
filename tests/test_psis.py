"""nma.posterior.psis against ArviZ's az.loo (the implementation it follows), to the last bit."""

import warnings

import arviz as az
import numpy as np
import pytest

from nma.posterior.psis import psis_loo


@pytest.mark.parametrize("case", range(8))
def test_psis_loo_is_arviz_loo(case):
    rng = np.random.default_rng(case)
    chains, draws, studies = (4, 1000, 6) if case % 2 else (1, 500, 3)
    d = rng.normal(size=(chains, draws, 3))
    if case % 3 == 0:
        d = np.cumsum(d, axis=1) * 0.05             # autocorrelated draws: a relative efficiency below 1
    tau = np.abs(rng.normal(size=(chains, draws)))
    log_lik = -0.5 * (rng.standard_t(2 + case % 4, size=(chains, draws, studies)) * (1 + case)) ** 2   # heavy tails
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.loo(az.from_dict(posterior={"d": d, "tau": tau}, log_likelihood={"y": log_lik}), pointwise=True)
        mine = psis_loo(log_lik, [d, tau])
    assert mine["elpd_loo"] == ref.elpd_loo
    assert mine["se"] == ref.se
    assert mine["p_loo"] == ref.p_loo
    np.testing.assert_array_equal(mine["pareto_k"], np.asarray(ref.pareto_k))
