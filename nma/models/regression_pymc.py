"""PyMC versions of meta-regression and class effects: every variant for contrast data, shared/unrelated for binomial.

The parameters are those of `nma.models.regression.LinearModel`: theta = A0 phi + sigma A1 e, with phi ~ N(0, s^2)
(s = d_prior_sd) the free location parameters and e ~ N(0, 1) the within-class (or within-coefficient) deviations.
Contrast studies have their study effects integrated out, y ~ MVN(X theta, V + tau^2 C), and given (tau, sigma) the
location parameters are Gaussian: they are sampled through that conditional (as normal_pymc's "conditional"
parameterisation), so NUTS sees tau, sigma and unit normals, with no funnel. Arm-level binomial data reuse the
binomial model (binomial_pymc) with the regression's design in place of the consistency design. No sampling here:
`nma.models.sampler.sample` runs these.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from nma.constants import PARAMETER
from nma.core.arms import ArmNetwork
from nma.core.network import Network
from nma.errors import ModelSpecError
from nma.models.binomial_pymc import build_binomial_model
from nma.models.normal_pymc import tau_variable
from nma.models.regression import Classes, LinearModel, Regression, build_linear_model
from nma.models.spec import ModelSpec

#: The dimension of z, the standardised free parameters (the location parameters, then the deviations).
LOCATION = "free_parameter"


def _split(model: LinearModel) -> tuple[np.ndarray, np.ndarray]:
    """Columns of phi that are location parameters (A0) and those that are deviations scaled by sigma (A1)."""
    loc = np.flatnonzero(np.abs(model.A0).sum(0) > 0)
    dev = np.flatnonzero(np.abs(model.A1).sum(0) > 0)
    if len(np.intersect1d(loc, dev)):
        raise ModelSpecError("a parameter is both a location and a deviation: not a model this module builds")
    return loc, dev


def _conditional_theta(network: Network, model: LinearModel, spec: ModelSpec, tau, sigma):
    """theta through its exact conditional given (tau, sigma), as normal_pymc's "conditional" parameterisation.

    u = (phi, z), theta = W u with W = [A0_loc, sigma A1_dev], prior u ~ N(0, diag(s^2, 1)); given (tau, sigma),
    u | y ~ N(P^-1 b, P^-1), P = diag(s^-2, 1) + W'X'R^-1 X W, b = W'X'R^-1 y, R = V + tau^2 C (dense: these networks
    are small). u = P^-1 b + L^-T z with z ~ N(0, I), and (tau, sigma) carry log p(y | tau, sigma):
    -1/2 (log|R| + y'R^-1 y - b'P^-1 b + log|P|) up to a constant. No funnel in tau or sigma."""
    loc, dev = _split(model)
    s = pm.Data("d_prior_sd", float(spec.d_prior_sd))
    X = pm.Data("regression_X", model.X)
    y = pm.Data("contrast_y", network.y)
    R = pm.Data("contrast_V", network.covariance)
    if tau is not None:
        R = R + tau**2 * pm.Data("multi_arm_C", network.multi_arm_correlation)
    W = pm.Data("A0", model.A0[:, loc])
    prior_prec = [pt.ones(len(loc)) / s**2]
    if sigma is not None:
        W = pt.concatenate([W, sigma * pm.Data("A1", model.A1[:, dev])], axis=1)
        prior_prec.append(pt.ones(len(dev)))
    XW = pt.dot(X, W)
    LR = pt.linalg.cholesky(R)
    A = pt.linalg.solve_triangular(LR, XW, lower=True)
    r = pt.linalg.solve_triangular(LR, y, lower=True)
    P = pt.diag(pt.concatenate(prior_prec)) + pt.dot(A.T, A)
    b = pt.dot(A.T, r)
    L = pt.linalg.cholesky(P)
    v = pt.linalg.solve_triangular(L, b, lower=True)
    m = pt.linalg.solve_triangular(L.T, v, lower=False)
    pm.Potential("log_likelihood_variances", -0.5 * (2 * pt.sum(pt.log(pt.diag(LR))) + pt.sum(r**2) - pt.sum(v**2)
                                                     + 2 * pt.sum(pt.log(pt.diag(L)))))
    z = pm.Normal("z", 0.0, 1.0, dims=LOCATION)
    u = m + pt.linalg.solve_triangular(L.T, z, lower=False)
    return pm.Deterministic("theta", pt.dot(W, u), dims=PARAMETER)


def _sigma_variable(model: LinearModel):
    prior = model.sigma_prior
    make = {"half-normal": lambda: pm.HalfNormal(model.sigma_name, sigma=prior.a),
            "half-cauchy": lambda: pm.HalfCauchy(model.sigma_name, beta=prior.a),
            "uniform": lambda: pm.Uniform(model.sigma_name, lower=prior.a, upper=prior.b)}.get(prior.kind)
    if make is None:
        raise ModelSpecError(f"sd_prior={prior.text!r}: the class / coefficient SD takes a half-normal, "
                             "half-Cauchy or uniform prior. Fix: e.g. sd_prior=\"half-normal(0.5)\"")
    return make()


def _coords(model: LinearModel) -> dict:
    loc, dev = _split(model)
    n = len(loc) + (len(dev) if model.sigma_prior is not None else 0)
    return {PARAMETER: list(model.names), LOCATION: [f"u{i}" for i in range(n)]}


def build_regression_model(network: Network, spec: ModelSpec, regression: Regression | None = None,
                           classes: Classes | None = None, values: Mapping[str, object] | None = None) -> pm.Model:
    """Contrast-level meta-regression / class effects: `theta[parameter]` named as the exact engine's, `tau`, and
    the class or coefficient SD (`class_sd` / `beta_sd`) when exchangeable. theta is sampled through its exact
    Gaussian conditional given (tau, sigma), as normal_pymc's "conditional" parameterisation: no funnel in tau or
    sigma (a centred or non-centred per-study form diverged on a two-class network). One SD besides tau
    (`build_linear_model` refuses two)."""
    model = build_linear_model(network, regression, classes, values)
    coords = _coords(model)
    with pm.Model(coords=coords) as pmodel:
        tau = tau_variable(spec.tau_prior) if spec.effects == "random" else None
        sigma = _sigma_variable(model) if model.sigma_prior is not None else None
        _conditional_theta(network, model, spec, tau, sigma)
    return pmodel


def build_binomial_regression_model(network: ArmNetwork, spec: ModelSpec, regression: Regression,
                                    values: Mapping[str, object], classes: Classes | None = None) -> pm.Model:
    """Arm-level binomial meta-regression with shared or unrelated coefficients (and common / independent classes):
    the binomial model (TSD2 Program 1) with the regression's design, `beta[parameter]` the free parameters phi,
    named as `LinearModel` names them (theta = A0 phi; with no classes, phi is theta without the shared B's copies)."""
    if network.contrast is not None:
        raise ModelSpecError("binomial meta-regression: this network has contrast-level studies beside its arms. "
                             "Fix: fit the arm-level studies alone, or convert them all to contrasts")
    model = build_linear_model(network, regression, classes, values)
    if model.sigma_prior is not None:
        raise ModelSpecError("binomial meta-regression: exchangeable coefficients or classes are not built for "
                             "arm-level data yet. Fix: use coefficients=\"shared\" or \"unrelated\" (and common or "
                             "independent classes)")
    loc, _ = _split(model)
    names = [model.names[int(np.flatnonzero(model.A0[:, j])[-1])] for j in loc]   # phi j's own (last) theta
    return build_binomial_model(network, spec, design=model.X @ model.A0[:, loc], parameters=names)


def theta_draws(idata, model: LinearModel) -> np.ndarray:
    """Draws of theta (chain x draw, n_theta) from a fitted contrast model."""
    th = idata["posterior"]["theta"].transpose("chain", "draw", PARAMETER).to_numpy()
    return th.reshape(-1, th.shape[-1])


__all__ = ["build_regression_model", "build_binomial_regression_model", "theta_draws"]
