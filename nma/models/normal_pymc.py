"""The PyMC model: contrast-level NMA with the study-level random effects marginalised analytically.

y_s ~ MVN(X_s d, V_s + tau^2 C_s), C_s with 1 on the diagonal and 0.5 off it (NICE DSU TSD2). This is the
same posterior for d and tau as the delta parameterisation, without the study-level effects to sample.

By default (`parameterisation="conditional"`) d is sampled through its exact conditional posterior given tau:
d = m(tau) + L(tau)^-T z, where P(tau) = L L^T is the conditional precision, z ~ N(0, I), and tau carries its
likelihood with d integrated out. z is then exactly standard normal and independent of tau a posteriori, so
NUTS sees a 1-D problem in tau plus a unit normal: no funnel between d and tau (which made a single-trial
network diverge), ESS close to the draw count, and a gradient 8x cheaper than the per-study likelihoods.
`parameterisation="direct"` writes d ~ N(0, s^2) and one (multivariate) normal likelihood per study, as TSD2
does; the tests check both give the same posterior. The per-study log-likelihood for LOO and deviance is
computed from the draws by `study_log_likelihood`.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from nma.constants import CONTRAST, STUDY, TREATMENT
from nma.core.network import Network
from nma.models.priors import TauPrior
from nma.errors import ModelSpecError
from nma.models.spec import ModelSpec


def tau_variable(prior: TauPrior):
    """Create tau (between-study SD) under the model context from a parsed prior."""
    a = pm.Data("tau_prior_a", float(prior.a))      # data, not constants: a prior-sensitivity refit compiles nothing
    if prior.kind == "half-normal":
        return pm.HalfNormal("tau", sigma=a)
    if prior.kind == "half-cauchy":
        return pm.HalfCauchy("tau", beta=a)
    b = pm.Data("tau_prior_b", float(prior.b))
    if prior.kind == "uniform":
        return pm.Uniform("tau", lower=a, upper=b)
    tau_sq = pm.LogNormal("tau_sq", mu=a, sigma=b)
    return pm.Deterministic("tau", pt.sqrt(tau_sq))


def observed_name(k: int) -> str:
    return f"y_{k + 1}arm"


PARAMETERISATIONS = ("conditional", "direct")


def _block_covariances(network: Network, tau):
    """Per block size k: the stacked study covariances V_s + tau^2 C (data, plus a tensor term when tau is random)."""
    V = network.covariance
    out = {}
    for k, rows in network.block_groups.items():
        cov = pm.Data(f"contrast_V_{k}", np.stack([V[np.ix_(b, b)] for b in rows]))
        if tau is not None:
            cov = cov + tau**2 * (np.full((k, k), 0.5) + 0.5 * np.eye(k))
        out[k] = cov
    return out


def _inverse_and_logdet(cov, k: int, n: int):
    """Inverse and log-determinant of stacked k x k study covariances (S, k, k).

    Closed form for 2 x 2 (three-arm trials); a per-study loop otherwise. Batched linear algebra in
    PyTensor's C backend runs a Python loop with a large per-call cost, which dominated the gradient."""
    if k == 2:
        a, b, c, d = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 0], cov[:, 1, 1]
        det = a * d - b * c
        inv = pt.stack([pt.stack([d, -b], axis=-1), pt.stack([-c, a], axis=-1)], axis=-2) / det[:, None, None]
        return inv, pt.log(det)
    mats = [cov[i] for i in range(n)]
    inv = pt.stack([pt.linalg.inv(m) for m in mats])
    logdet = pt.stack([pt.log(pt.linalg.det(m)) for m in mats])
    return inv, logdet


def _conditional_pieces(network: Network, spec: ModelSpec, tau):
    """For the current tau: the Cholesky factor L of P = precision of d | tau, y; m = E[d | tau, y];
    and log p(y | tau) with d integrated out (up to a constant), by the identity
    -2 log p(y | tau) = sum log|Sigma_s| + y'Sigma^-1 y - b'P^-1 b + log|P| + const."""
    X, y = network.design, network.y
    p = X.shape[1]
    P = pt.eye(p) / pm.Data("d_prior_sd", float(spec.d_prior_sd)) ** 2
    b = pt.zeros(p)
    quad = 0.0
    logdet = 0.0
    for k, cov in _block_covariances(network, tau).items():
        rows = network.block_groups[k]
        Xb, yb = pm.Data(f"contrast_X_{k}", X[rows]), pm.Data(f"contrast_y_{k}", y[rows])   # (S, k, p), (S, k)
        if k == 1:
            var = cov[:, 0, 0]
            w = 1.0 / var
            P = P + pt.dot(Xb[:, 0, :].T * w, Xb[:, 0, :])
            b = b + pt.dot(Xb[:, 0, :].T, w * yb[:, 0])
            quad = quad + pt.sum(w * yb[:, 0] ** 2)
            logdet = logdet + pt.sum(pt.log(var))
        else:
            W, ld = _inverse_and_logdet(cov, k, len(rows))
            WX = (W[:, :, :, None] * Xb[:, None, :, :]).sum(axis=2)     # (S, k, p)
            Wy = (W * yb[:, None, :]).sum(axis=2)                      # (S, k)
            P = P + pt.tensordot(Xb, WX, axes=[[0, 1], [0, 1]])
            b = b + pt.tensordot(Xb, Wy, axes=[[0, 1], [0, 1]])
            quad = quad + pt.sum(yb * Wy)
            logdet = logdet + pt.sum(ld)
    L = pt.linalg.cholesky(P)
    # two triangular solves rather than cho_solve, which has no gradient in PyTensor 2.38
    u = pt.linalg.solve_triangular(L, b, lower=True)
    m = pt.linalg.solve_triangular(L.T, u, lower=False)
    log_marginal = -0.5 * (logdet + quad - pt.sum(u**2) + 2 * pt.sum(pt.log(pt.diag(L))))
    return L, m, log_marginal


def build_model(network: Network, spec: ModelSpec, parameterisation: str = "conditional") -> pm.Model:
    """`d[treatment]`: log-HR of treatment vs the reference (negative = fewer events). No sampling here.

    "direct": d ~ N(0, d_prior_sd^2) and one (multivariate) normal likelihood per study, as TSD2 writes it.
    "conditional": z ~ N(0, I), d = m(tau) + L(tau)^-T z, and the likelihood of tau with d integrated out:
    the same joint posterior of (d, tau), with z independent of tau, so no funnel and ESS ~ draws.
    """
    if parameterisation not in PARAMETERISATIONS:
        raise ModelSpecError(f"parameterisation={parameterisation!r} is not one of {', '.join(PARAMETERISATIONS)}. "
                             "Fix: pass parameterisation=\"conditional\" (the default) or \"direct\"")
    coords = {TREATMENT: list(network.treatments[1:]), STUDY: list(network.studies), **contrast_coords(network)}
    with pm.Model(coords=coords) as model:
        tau = tau_variable(spec.tau_prior) if spec.effects == "random" else None
        if parameterisation == "conditional":
            z = pm.Normal("z", 0.0, 1.0, dims=TREATMENT)
            L, m, log_marginal = _conditional_pieces(network, spec, tau)
            pm.Deterministic("d", m + pt.linalg.solve_triangular(L.T, z, lower=False), dims=TREATMENT)
            pm.Potential("log_likelihood_tau", log_marginal)
            return model
        d = pm.Normal("d", mu=0.0, sigma=spec.d_prior_sd, dims=TREATMENT)
        contrast_likelihood(network, d, tau)
    return model


def contrast_coords(network: Network) -> dict[str, list]:
    """Coordinates of the per-block-size likelihood terms (studies with k contrasts)."""
    coords = {}
    for k, idx in network.study_index.items():
        coords[f"{STUDY}_{k + 1}arm"] = [network.studies[i] for i in idx]
        if k > 1:
            coords[f"{CONTRAST}_{k + 1}arm"] = [f"arm {j + 2} vs arm 1" for j in range(k)]
    return coords


def contrast_likelihood(network: Network, d, tau) -> None:
    """One (multivariate) normal likelihood per study, delta integrated out: y_s ~ MVN(X_s d, V_s + tau^2 C_s).

    `d` is in the network's own coordinates (its treatments[1:] versus its reference); also the contrast part of
    a mixed arm + contrast model (binomial_model.py)."""
    y = network.y
    for k, cov in _block_covariances(network, tau).items():
        rows = network.block_groups[k]
        dims = f"{STUDY}_{k + 1}arm"
        mu = pt.dot(pm.Data(f"contrast_X_{k}", network.design[rows]), d)      # (S, k)
        if k == 1:
            pm.Normal(observed_name(k), mu=mu[:, 0], sigma=pt.sqrt(cov[:, 0, 0]),
                      observed=pm.Data(f"contrast_y_{k}", y[rows[:, 0]]), dims=dims)
        else:
            pm.MvNormal(observed_name(k), mu=mu, cov=cov, observed=pm.Data(f"contrast_y_{k}", y[rows]),
                        dims=(dims, f"{CONTRAST}_{k + 1}arm"))


