"""The PyMC model: contrast-level NMA with the study-level random effects marginalised analytically.

y_s ~ MVN(X_s d, V_s + tau^2 C_s), C_s with 1 on the diagonal and 0.5 off it (NICE DSU TSD2). This is the
same posterior for d and tau as the non-centred delta parameterisation, with no funnel to sample.
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


def build_model(network: Network, spec: ModelSpec) -> pm.Model:
    """`d[treatment]`: log-HR of treatment vs the reference (negative = fewer events). No sampling here."""
    coords = {TREATMENT: list(network.treatments[1:]), STUDY: list(network.studies)}
    for k, idx in network.study_index.items():
        coords[f"{STUDY}_{k + 1}arm"] = [network.studies[i] for i in idx]
        if k > 1:
            coords[f"{CONTRAST}_{k + 1}arm"] = [f"arm {j + 2} vs arm 1" for j in range(k)]
    X, y, V = network.design, network.y, network.covariance
    with pm.Model(coords=coords) as model:
        d = pm.Normal("d", mu=0.0, sigma=spec.d_prior_sd, dims=TREATMENT)
        tau = tau_variable(spec.tau_prior) if spec.effects == "random" else None
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
