"""The PyMC model for arm-level binary data (TSD2 Program 1), with contrast-level studies beside it (Program 8).

r_ik ~ Binomial(n_ik, p_ik), logit(p_ik) = mu_i + delta_ik, delta_i1 = 0 on the study's baseline arm b.
Fixed effect: delta_ik = d_k - d_b. Random effects: delta_i ~ MVN(d_k - d_b, tau^2 C), C with 1 on the
diagonal and 0.5 off it within a multi-arm study. A study whose data say little about its delta has it written
non-centred, delta = theta + tau L z with z ~ N(0, I) and L the Cholesky factor of C, so NUTS never meets the
funnel between delta and tau; a study whose every log-OR is more precise than a quick estimate of tau has its delta
sampled centred, delta ~ MVN(theta, tau^2 C) directly (`centred_contrasts`). On TSD4 smoking (23 of 26 deltas
centred) this halved the leapfrog steps per draw (27.5 to 15) and tripled the ESS per draw of d and tau (measured
2026-12-03, 4 x 5000 draws).
Contrast-level studies (log-ORs) enter as in `model.py` (delta integrated out), sharing d and tau.
The binomial likelihood takes zero cells as they are: no continuity correction. No sampling here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from nma.constants import ARM, CONTRAST, PARAMETER, STUDY, TREATMENT
from nma.core.arms import ArmNetwork
from nma.models.normal_pymc import contrast_coords, contrast_likelihood, tau_variable
from nma.models.spec import ModelSpec

#: N(0, 100^2) on each study's baseline log-odds, as TSD2: flat over every plausible response probability.
BASELINE_PRIOR_SD = 100.0


def centred_contrasts(net: ArmNetwork) -> np.ndarray:
    """1.0 for each delta of a study sampled centred, 0.0 for one sampled non-centred (constant within a study).

    A study is centred when every one of its log-ORs has an approximate SE below a quick estimate of tau (the
    DerSimonian-Laird moment estimate on the log-ORs, nma.frequentist): its data then pin its delta down better than
    the random-effects distribution does, and the non-centred form would tie z to tau and d. Where tau is estimated
    as 0 (few studies, little heterogeneity) every study stays non-centred, which keeps NUTS out of the funnel."""
    from nma.core.network import Network
    from nma.errors import NMAError
    from nma.models.frequentist import frequentist

    study = net.study_of_arm[~net.is_baseline]
    try:
        lor = Network.from_contrasts(net.log_odds_ratios(), measure="OR", reference=net.reference,
                                     require_connected=False)
        tau = float(np.sqrt(frequentist(lor, method="DL").tau2))
    except (NMAError, ValueError, np.linalg.LinAlgError):    # e.g. a mixed network's arm part alone is disconnected
        tau = 0.0
    worst = pd.Series(net.delta_se).groupby(study).transform("max").to_numpy()
    return (worst < tau).astype(float)


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
            # per study, centred (delta sampled itself) where its data pin delta down, non-centred (delta = theta +
            # tau L z) where they do not: `centred` is data, so one compiled model serves every choice
            # the quick tau is the consistency model's: under a design (node-split, UME, meta-regression) tau can be
            # much smaller (a covariate explaining the heterogeneity of TSD3's BCG trials diverged centred), so
            # every study stays non-centred there
            c = pm.Data("centred", centred_contrasts(net) if design is None else np.zeros(len(net.delta_labels)))
            z = pm.Flat("z", dims=CONTRAST)
            L = pm.Data("delta_cholesky", net.delta_cholesky)
            white = c * pt.dot(pm.Data("delta_cholesky_inverse", np.linalg.inv(net.delta_cholesky)), z - theta) / tau
            pm.Potential("delta_prior", -0.5 * pt.sum((white + (1 - c) * z) ** 2) - pt.sum(c) * pt.log(tau))
            theta = c * z + (1 - c) * (theta + tau * pt.dot(L, z))
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


