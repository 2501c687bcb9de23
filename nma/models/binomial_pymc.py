"""The PyMC model for arm-level binary data (TSD2 Program 1), with contrast-level studies beside it (Program 8).

r_ik ~ Binomial(n_ik, p_ik), logit(p_ik) = mu_i + delta_ik, delta_i1 = 0 on the study's baseline arm b.
Fixed effect: delta_ik = d_k - d_b. Random effects: delta_i ~ MVN(d_k - d_b, tau^2 C), C with 1 on the
diagonal and 0.5 off it within a multi-arm study, written non-centred as delta = theta + tau L z with
z ~ N(0, I) and L the Cholesky factor of C, so NUTS never meets the funnel between delta and tau.
Contrast-level studies (log-ORs) enter as in `model.py` (delta integrated out), sharing d and tau.
The binomial likelihood takes zero cells as they are: no continuity correction. No sampling here.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from nma.constants import ARM, CONTRAST, PARAMETER, STUDY, TREATMENT
from nma.core.arms import ArmNetwork
from nma.models.normal_pymc import contrast_coords, contrast_likelihood, tau_variable
from nma.models.spec import ModelSpec

#: N(0, 100^2) on each study's baseline log-odds, as TSD2: flat over every plausible response probability.
BASELINE_PRIOR_SD = 100.0


def build_binomial_model(net: ArmNetwork, spec: ModelSpec, design: np.ndarray | None = None,
                         parameters: list[str] | None = None) -> pm.Model:
    """`d[treatment]` (log-OR vs the reference), `mu[study]`, `delta[contrast]`, and `r[arm]` observed.

    With `design` (contrasts x parameters, the node-split or UME designs of nma/checks/inconsistency.py over
    the network's `structure`), the contrast means are design @ beta, `beta[parameter]` named by `parameters`,
    in place of d (arm-level networks only)."""
    coords = {TREATMENT: list(net.treatments[1:]), STUDY: list(net.arm_studies), ARM: net.arm_labels,
              CONTRAST: net.delta_labels}
    if net.contrast is not None:
        if design is not None:
            from nma.errors import ModelSpecError

            raise ModelSpecError("design=: a node-split or UME design applies to arm-level networks only, and this "
                                 "network has contrast-level studies too. Fix: pass design=None (the consistency model)")
        coords.update(contrast_coords(net.contrast))
    if design is not None:
        coords = {**coords, PARAMETER: list(parameters)}
    with pm.Model(coords=coords) as model:
        # every array is data (pm.Data), not a constant: one compiled sampler serves every network of this shape
        base_t = pm.Data("baseline_of_contrast", net.baseline_of_arm[~net.is_baseline])
        arm_t = pm.Data("treatment_of_contrast", net.treatment_of_arm[~net.is_baseline])
        tau = tau_variable(spec.tau_prior) if spec.effects == "random" else None
        d_sd = pm.Data("d_prior_sd", float(spec.d_prior_sd))
        if design is None:
            d = pm.Normal("d", mu=0.0, sigma=d_sd, dims=TREATMENT)
            d_all = pt.concatenate([pt.zeros(1), d])
            theta = d_all[arm_t] - d_all[base_t]
        else:
            beta = pm.Normal("beta", mu=0.0, sigma=d_sd, dims=PARAMETER)
            theta = pt.dot(pm.Data("design", np.asarray(design, float)), beta)
        if tau is not None:
            z = pm.Normal("z", 0.0, 1.0, dims=CONTRAST)
            theta = theta + tau * pt.dot(pm.Data("delta_cholesky", net.delta_cholesky), z)
        delta = pm.Deterministic("delta", theta, dims=CONTRAST)
        arm_delta = pt.concatenate([pt.zeros(1), delta])[pm.Data("delta_position", net.delta_position)]
        # sample the study's weighted mean log-odds m, not mu: see ArmNetwork.centre_weights (same posterior)
        m = pm.Flat("m", dims=STUDY)
        mu = pm.Deterministic("mu", m - pt.dot(pm.Data("centre_weights", net.centre_weights), arm_delta), dims=STUDY)
        pm.Potential("mu_prior", pm.logp(pm.Normal.dist(0.0, BASELINE_PRIOR_SD), mu).sum())
        eta = mu[pm.Data("study_of_arm", net.study_of_arm)] + arm_delta
        pm.Binomial("r", n=pm.Data("n", net.arms["n"].to_numpy(np.int64)), logit_p=eta,
                    observed=pm.Data("r_observed", net.arms["r"].to_numpy(np.int64)), dims=ARM)
        if net.contrast is not None:
            idx = net.contrast_treatment_index
            contrast_likelihood(net.contrast, d_all[idx[1:]] - d_all[idx[0]], tau)
    return model


