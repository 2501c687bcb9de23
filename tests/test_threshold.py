"""Threshold analysis against nmathresh (Phillippo et al. 2018) and against refitting with the threshold applied.

The reference is tests/reference/nmathresh_thrombo.json: nmathresh 0.1.6's own code run on its shipped Thrombolytics
data and WinBUGS posterior, as its vignette does (the R script beside it regenerates it). Its study-11 row is what
the vignette prints: thresholds -0.14 and +0.87, new optimal 5 and 2, base-case optimal 3.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nma
from nma.checks.threshold import (
    influence,
    influence_from_posterior,
    reconstruct_likelihood,
    solve_thresholds,
    threshold,
)
from nma.core.synthetic import synthetic_network
from nma.errors import ModelSpecError

REF = json.loads((Path(__file__).parent / "reference" / "nmathresh_thrombo.json").read_text())
#: Same inputs, same algebra as nmathresh: differences are floating point only (worst seen 8e-13 relative).
RTOL = 1e-9


def finite(values) -> np.ndarray:
    """JSON null is an infinite threshold (nmathresh returns -Inf / Inf)."""
    return np.array([np.nan if v is None else v for v in values], float)


def codes(new) -> list[str]:
    return [str(i + 1) if i >= 0 else "NA" for i in new]


def inputs():
    return tuple(np.array(REF[k], float) for k in ("X", "V", "post_cov", "mean_dk"))


def test_influence_matrix_equals_nmathresh():
    X, V, S, _ = inputs()
    np.testing.assert_allclose(influence_from_posterior(S, X, V), np.array(REF["study"]["H"]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("key, mid", [("study", 0.0), ("study_mcid", 0.05)])
def test_study_thresholds_equal_nmathresh(key, mid):
    X, V, S, m = inputs()
    th = solve_thresholds(m, influence_from_posterior(S, X, V), lower_is_better=True, mid=mid)
    ref = REF[key]
    assert th.optimal + 1 == ref["kstar"] == 3
    for ours, theirs in ((th.lower, ref["lo"]), (th.upper, ref["hi"])):
        theirs = finite(theirs)
        assert np.array_equal(np.isfinite(ours), np.isfinite(theirs))
        np.testing.assert_allclose(ours[np.isfinite(ours)], theirs[np.isfinite(theirs)], rtol=RTOL)
    assert codes(th.lower_new) == ref["lo_newkstar"]
    assert codes(th.upper_new) == ref["hi_newkstar"]


def test_vignette_study_11():
    """The numbers the vignette states in words for study 11 (treatment 5 vs 1, LOR -0.06)."""
    X, V, S, m = inputs()
    th = solve_thresholds(m, influence_from_posterior(S, X, V), lower_is_better=True)
    i = REF["datapoints"]["studyID"].index(11)
    assert round(REF["datapoints"]["lor"][i], 2) == -0.06
    assert (round(th.lower[i], 2), round(th.upper[i], 2)) == (-0.14, 0.87)
    assert round(REF["datapoints"]["lor"][i] + th.lower[i], 2) == -0.20
    assert (th.lower_new[i] + 1, th.upper_new[i] + 1) == (5, 2)


def test_contrast_level_reconstruction_and_thresholds_equal_nmathresh():
    _, _, S, m = inputs()
    Xc = np.array(REF["contrast"]["X"], float)
    lik_var = reconstruct_likelihood(S, Xc, prior_prec=1e-4)
    np.testing.assert_allclose(lik_var, REF["contrast"]["lik_var"], rtol=1e-9)
    th = solve_thresholds(m, influence_from_posterior(S, Xc, lik_var), lower_is_better=True)
    np.testing.assert_allclose(th.lower, REF["contrast"]["lo"], rtol=RTOL)
    np.testing.assert_allclose(th.upper, REF["contrast"]["hi"], rtol=RTOL)
    assert codes(th.lower_new) == REF["contrast"]["lo_newkstar"]
    assert codes(th.upper_new) == REF["contrast"]["hi_newkstar"]


def thrombo_network() -> nma.Network:
    """The vignette's log odds ratios from the shipped counts, each study's arm 1 as its reference (its variance
    1/r + 1/(n - r) gives the three-arm covariance, as the vignette's V)."""
    d, rows = REF["data"], []
    for i, sid in enumerate(d["studyID"]):
        r1, n1 = d["r1"][i], d["n1"][i]
        rows.append({"study": str(sid), "treatment": str(d["t1"][i]), "y": np.nan, "se": np.sqrt(1 / r1 + 1 / (n1 - r1))})
        for t, r, n in ((d["t2"][i], d["r2"][i], d["n2"][i]), (d["t3"][i], d["r3"][i], d["n3"][i])):
            if t is not None:
                rows.append({"study": str(sid), "treatment": str(t), "y": np.log(r * (n1 - r1) / ((n - r) * r1)),
                             "se": np.sqrt(1 / r1 + 1 / r + 1 / (n1 - r1) + 1 / (n - r))})
    return nma.Network.from_contrasts(pd.DataFrame(rows), measure="OR", reference="1")


def test_network_rebuilds_the_vignettes_likelihood():
    net = thrombo_network()
    np.testing.assert_allclose(net.covariance, REF["V"], rtol=1e-12)
    np.testing.assert_allclose(net.y, REF["datapoints"]["lor"], rtol=1e-12)
    np.testing.assert_array_equal(net.design, REF["X"])


def test_fit_level_thresholds_close_to_published():
    """nma.threshold on our exact fixed-effect fit (normal likelihood of the log ORs) against nmathresh on WinBUGS's
    binomial posterior: the same decision, the same new optimal treatments and flagged studies (the vignette names 11,
    34 and 35), thresholds within 10% where they are decision-relevant (|threshold| < 5 on the log OR scale;
    far beyond, nmathresh's come from Monte Carlo noise in a near-zero influence)."""
    fit = nma.fit(thrombo_network(), effects="fixed", engine="exact", lower_is_better=True)
    t = nma.threshold(fit, level="study")
    assert set(t["optimal"]) == {"3"}
    assert sorted(t.loc[t["sensitive"], "study"], key=int) == ["11", "34", "35"]
    H = np.array(REF["study"]["H"])
    H_ours = influence(fit.network.design, fit.network.covariance, prior_sd=fit.spec.d_prior_sd)
    for side, ref_side in (("lower", "lo"), ("upper", "hi")):
        ours, theirs = t[f"{side}_threshold"].to_numpy(), finite(REF["study"][ref_side])
        near = (np.abs(theirs) < 5) & np.isfinite(ours)
        assert near.sum() >= 2
        np.testing.assert_allclose(ours[near], theirs[near], rtol=0.10)
        assert list(t[f"{side}_new_optimal"][near]) == list(np.array(REF["study"][f"{ref_side}_newkstar"])[near])
        # where ours is infinite and theirs finite, theirs comes from Monte Carlo noise in the WinBUGS covariance:
        # 6 vs 3 is informed by study 34 alone, so d6 - d3 moves with no other study (only through the vague prior
        # in ours: below 1e-3 of the study's largest influence; about 1% in theirs)
        for i in np.flatnonzero(~np.isfinite(ours) & (np.abs(theirs) < 5)):
            assert REF["study"][f"{ref_side}_newkstar"][i] == "6"
            assert abs(H[4, i] - H[1, i]) < 0.02 * np.abs(H[:, i]).max()
            assert abs(H_ours[4, i] - H_ours[1, i]) < 1e-3 * np.abs(H_ours[:, i]).max()
    c = nma.threshold(fit, level="contrast")
    assert list(zip(c["treatment"], c["comparator"])) == [("2", "1"), ("3", "1"), ("4", "1"), ("5", "1"),
                                                          ("4", "3"), ("5", "3"), ("6", "3")]
    # the vignette: "very small thresholds for the combined evidence on treatment contrasts 5 vs. 3 and 6 vs. 3"
    assert set(c.loc[c["sensitive"], "treatment"] + " vs " + c.loc[c["sensitive"], "comparator"]) == {"5 vs 3", "6 vs 3"}


def test_influence_is_the_exact_posterior_mean_map():
    """E(d | y) = H y: the exact engine's conditional mean at any tau, fixed and random, with three-arm trials."""
    net = nma.Network.from_contrasts(synthetic_network(5, 9, share_three_arm=0.5, seed=3), measure="HR")
    for effects, tau in (("fixed", 0.0), ("random", 0.3)):
        from nma.models.exact import _conditional
        from nma.models.spec import ModelSpec

        spec = ModelSpec(effects=effects, d_prior_sd=10.0)
        mean, _, _ = _conditional(net, spec, np.array([tau]))
        H = influence(net.design, net.covariance, prior_sd=10.0, tau=tau, C=net.multi_arm_correlation)
        np.testing.assert_allclose(H @ net.y, mean[0], rtol=1e-10, atol=1e-12)


def perturbed(net: nma.Network, row: int, u: float) -> nma.Network:
    """The network with data point `row` (of `net.arms`) moved by u."""
    df = net.contrasts.copy()
    idx = df.index[df["y"].notna()][row]
    df.loc[idx, "y"] += u
    return nma.Network.from_contrasts(df, measure=net.measure, reference=net.reference)


def best(fit) -> str:
    mean = fit.posterior.all_treatment_draws().mean(0) if fit.engine == "mcmc" else \
        np.concatenate([[0.0], fit.posterior.exact.weight @ fit.posterior.exact.mean])
    i = np.argmin(mean) if fit.spec.lower_is_better else np.argmax(mean)
    return fit.treatments[i]


def synthetic_case():
    net = nma.Network.from_contrasts(synthetic_network(5, 10, share_three_arm=0.3, seed=11), measure="HR")
    fit = nma.fit(net, effects="fixed", engine="exact")
    t = nma.threshold(fit)
    finite_rows = t[np.isfinite(t["upper_threshold"])]
    row = int(finite_rows["upper_threshold"].idxmin())
    return net, fit, t, row


def test_perturbing_by_the_threshold_changes_the_decision_exact():
    net, fit, t, _ = synthetic_case()
    assert best(fit) == t.loc[0, "optimal"]
    for side in ("upper", "lower"):
        rows = t[np.isfinite(t[f"{side}_threshold"])].index
        for r in rows[:3]:
            u, new = t.loc[r, f"{side}_threshold"], t.loc[r, f"{side}_new_optimal"]
            kw = dict(effects="fixed", engine="exact")
            assert best(nma.fit(perturbed(net, r, u * (1 - 1e-6)), **kw)) == t.loc[r, "optimal"]
            assert best(nma.fit(perturbed(net, r, u * (1 + 1e-6)), **kw)) == new


@pytest.mark.slow
def test_perturbing_by_the_threshold_changes_the_decision_mcmc():
    """MCMC refits: the decision on the posterior mean flips between threshold - delta and threshold + delta, with
    delta chosen so the two leading treatments' mean difference is 0.03 there, about 10 MCSE (posterior SD ~0.1,
    ESS ~ 1500 for 2 x 1000 draws)."""
    net, fit, t, row = synthetic_case()
    u = t.loc[row, "upper_threshold"]
    k, new = fit.treatments.index(t.loc[row, "optimal"]), fit.treatments.index(t.loc[row, "upper_new_optimal"])
    H = influence(net.design, net.covariance, prior_sd=fit.spec.d_prior_sd)
    G = np.vstack([np.zeros(H.shape[1]), H])
    delta = 0.03 / abs(G[new, row] - G[k, row])
    assert delta < 0.5 * u
    kw = dict(effects="fixed", engine="mcmc", chains=2, draws=1000, tune=500, seed=5)
    assert best(nma.fit(perturbed(net, row, u - delta), **kw)) == t.loc[row, "optimal"]
    assert best(nma.fit(perturbed(net, row, u + delta), **kw)) == t.loc[row, "upper_new_optimal"]


def test_bad_arguments():
    fit = nma.fit(thrombo_network(), effects="fixed", engine="exact", lower_is_better=True)
    with pytest.raises(ModelSpecError, match="level="):
        nma.threshold(fit, level="arm")
    with pytest.raises(ModelSpecError, match="mid="):
        nma.threshold(fit, mid=1.25)      # lower is better: an MID is a ratio below 1


@pytest.mark.parametrize("seed", [11, 8])
def test_random_effects_thresholds_hold_to_within_15_percent(seed):
    """Under random effects the threshold treats tau as known (at its posterior median), as nmathresh does; moving a
    study also moves tau's posterior, so the exact refit's flip point differs a little. Measured on these networks
    for the two smallest thresholds (0.18 to 0.33 on the log-HR scale): the flip lies at 0.91 to 1.03 times the
    threshold; 15% either side must not flip / must flip."""
    net = nma.Network.from_contrasts(synthetic_network(5, 10, share_three_arm=0.3, seed=seed), measure="HR")
    kw = dict(effects="random", engine="exact", tau_prior="half-normal(0.5)")
    fit = nma.fit(net, **kw)
    t = nma.threshold(fit)
    for r in t[np.isfinite(t["upper_threshold"])].nsmallest(2, "upper_threshold").index:
        u = t.loc[r, "upper_threshold"]
        assert u < 0.5
        assert best(nma.fit(perturbed(net, r, 0.85 * u), **kw)) == t.loc[r, "optimal"]
        assert best(nma.fit(perturbed(net, r, 1.15 * u), **kw)) == t.loc[r, "upper_new_optimal"]
