"""The PyMC model: contrast-level NMA with the study-level random effects marginalised analytically.

y_s ~ MVN(X_s d, V_s + tau^2 C_s), C_s with 1 on the diagonal and 0.5 off it (NICE DSU TSD2). This is the
same posterior for d and tau as the delta parameterisation, without the study-level effects to sample.

d itself is sampled through its exact conditional posterior given tau (`parameterisation="conditional"`,
the default): d = m(tau) + L(tau)^-T z, where P(tau) = L L^T is the conditional precision. Then z is exactly
standard normal and independent of tau a posteriori, so NUTS sees a 1-D problem in tau plus a unit normal:
no funnel between d and tau (which made a single-trial network diverge), and ESS close to the draw count.
`parameterisation="direct"` samples d with its normal prior, as the textbook writes it.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .constants import CONTRAST, STUDY, TREATMENT
from .network import Network
from .priors import TauPrior
from .spec import ModelSpec


def tau_variable(prior: TauPrior):
    """Create tau (between-study SD) under the model context from a parsed prior."""
    if prior.kind == "half-normal":
        return pm.HalfNormal("tau", sigma=prior.a)
    if prior.kind == "half-cauchy":
        return pm.HalfCauchy("tau", beta=prior.a)
    if prior.kind == "uniform":
        return pm.Uniform("tau", lower=prior.a, upper=prior.b)
    tau_sq = pm.LogNormal("tau_sq", mu=prior.a, sigma=prior.b)
    return pm.Deterministic("tau", pt.sqrt(tau_sq))


def observed_name(k: int) -> str:
    return f"y_{k + 1}arm"


PARAMETERISATIONS = ("conditional", "direct")


def _block_covariances(network: Network, tau):
    """Per block size k: the stacked study covariances V_s + tau^2 C (a tensor when tau is random)."""
    V = network.covariance
    out = {}
    for k, rows in network.block_groups.items():
        cov = np.stack([V[np.ix_(b, b)] for b in rows])
        if tau is not None:
            cov = cov + tau**2 * (np.full((k, k), 0.5) + 0.5 * np.eye(k))
        out[k] = cov
    return out


def _conditional_d(network: Network, spec: ModelSpec, tau, z):
    """d = m + L^-T z with P = L L^T the precision of d | tau, y; returns d and log|dd/dz| = -sum log diag L."""
    X, y = network.design, network.y
    p = X.shape[1]
    P = pt.as_tensor_variable(np.eye(p) / spec.d_prior_sd**2)
    b = pt.zeros(p)
    for k, cov in _block_covariances(network, tau).items():
        rows = network.block_groups[k]
        Xb, yb = X[rows], y[rows]                      # (S, k, p), (S, k)
        if k == 1:
            w = 1.0 / cov[:, 0, 0]
            P = P + pt.dot(Xb[:, 0, :].T * w, Xb[:, 0, :])
            b = b + pt.dot(Xb[:, 0, :].T, w * yb[:, 0])
        else:
            W = pt.linalg.inv(pt.as_tensor_variable(cov))  # batched over studies
            P = P + pt.einsum("ski,skl,slj->ij", Xb, W, Xb)
            b = b + pt.einsum("ski,skl,sl->i", Xb, W, yb)
    L = pt.linalg.cholesky(P)
    # two triangular solves rather than cho_solve, which has no gradient in PyTensor 2.38
    m = pt.linalg.solve_triangular(L.T, pt.linalg.solve_triangular(L, b, lower=True), lower=False)
    d = m + pt.linalg.solve_triangular(L.T, z, lower=False)
    return d, -pt.sum(pt.log(pt.diag(L)))


def build_model(network: Network, spec: ModelSpec, parameterisation: str = "conditional") -> pm.Model:
    """`d[treatment]`: log-HR of treatment vs the reference (negative = fewer events). No sampling here."""
    if parameterisation not in PARAMETERISATIONS:
        raise ValueError(f"parameterisation must be one of {PARAMETERISATIONS}")
    coords = {TREATMENT: list(network.treatments[1:]), STUDY: list(network.studies)}
    for k, idx in network.study_index.items():
        coords[f"{STUDY}_{k + 1}arm"] = [network.studies[i] for i in idx]
        if k > 1:
            coords[f"{CONTRAST}_{k + 1}arm"] = [f"arm {j + 2} vs arm 1" for j in range(k)]
    X, y, V = network.design, network.y, network.covariance
    with pm.Model(coords=coords) as model:
        tau = tau_variable(spec.tau_prior) if spec.effects == "random" else None
        if parameterisation == "direct":
            d = pm.Normal("d", mu=0.0, sigma=spec.d_prior_sd, dims=TREATMENT)
        else:
            # z's density is supplied by the likelihood, the prior of d and the Jacobian below
            z = pm.Flat("z", dims=TREATMENT)
            d_value, log_jac = _conditional_d(network, spec, tau, z)
            d = pm.Deterministic("d", d_value, dims=TREATMENT)
            pm.Potential("d_prior", pm.logp(pm.Normal.dist(0.0, spec.d_prior_sd), d).sum())
            pm.Potential("jacobian", log_jac)
        mu = pt.dot(pt.as_tensor_variable(X), d)
        for k, rows in network.block_groups.items():
            dims = f"{STUDY}_{k + 1}arm"
            if k == 1:
                r = rows[:, 0]
                var = V[r, r] + (tau**2 if tau is not None else 0.0)
                pm.Normal(observed_name(k), mu=mu[r], sigma=pt.sqrt(var), observed=y[r], dims=dims)
            else:
                cov = np.stack([V[np.ix_(b, b)] for b in rows])
                if tau is not None:
                    C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
                    cov = cov + tau**2 * C
                pm.MvNormal(observed_name(k), mu=mu[rows], cov=cov, observed=y[rows], dims=(dims, f"{CONTRAST}_{k + 1}arm"))
    return model


def study_log_likelihood(network: Network, d: np.ndarray, tau: np.ndarray | None) -> np.ndarray:
    """Pointwise log-likelihood of each study at each draw: (n_draws, n_studies), for LOO and deviance.

    d: (n_draws, T-1) basic parameters; tau: (n_draws,) or None for fixed effect.
    """
    X, y, V = network.design, network.y, network.covariance
    n = d.shape[0]
    out = np.empty((n, len(network.studies)))
    theta = d @ X.T  # (n, contrasts)
    for k, rows in network.block_groups.items():
        C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
        Vb = np.stack([V[np.ix_(b, b)] for b in rows])              # (S_k, k, k)
        t2 = (tau**2)[:, None, None, None] if tau is not None else 0.0
        cov = Vb[None] + t2 * C                                      # (n or 1, S_k, k, k)
        resid = y[rows][None] - theta[:, rows]                       # (n, S_k, k)
        cov = np.broadcast_to(cov, (n, *Vb.shape))
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, resid[..., None])[..., 0]
        logdet = 2 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        out[:, network.study_index[k]] = -0.5 * (k * np.log(2 * np.pi) + logdet + (z**2).sum(-1))
    return out
