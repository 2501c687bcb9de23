"""Model checks of binomial networks (MCMC refits) against independent answers.

* Structure: the network structure's designs address the binomial model's delta rows one to one, and the comparisons
  it splits are those of the contrast network of the same studies (van Valkenhoef's rule).
* The checks are the same functions as for normal contrasts (nma/checks/), refitting through the binomial family.
* Large samples, fixed effect: node-splitting agrees with the exact engine's node-split of the empirical log-ORs
  (delta-method SEs), where the normal approximation is accurate, within 4 Monte Carlo standard errors.
* UME and consistency: with vague priors and fixed effects, pD equals the number of free parameters (TSD2), so
  the UME total leverage is studies + compared pairs, the consistency one studies + treatments - 1.
* Sensitivity: the fixed-effect row equals the exact fixed-effect answer on the empirical log-ORs.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import REF
from test_binomial_validation import empirical_contrasts, large_sample_arms

from nma.checks.inconsistency import node_split, ume_comparison, ume_design
from nma.checks.sensitivity import heterogeneity_sensitivity
from nma.core.arms import ArmNetwork
from nma.core.network import Network
from nma.inputs.arms import load_arms
from nma.models.families import BINOMIAL, FitSettings
from nma.models.posterior import Posterior
from nma.models.exact import exact_relative_effects, fit_exact
from nma.models.priors import parse_tau_prior
from nma.models.sampler import SamplerConfig
from nma.models.spec import ModelSpec

PROBS = (0.025, 0.5, 0.975)
FIXED = ModelSpec(effects="fixed", d_prior_sd=10.0, measure="OR", lower_is_better=False)
SAMPLER = SamplerConfig(seed=5, draws=500, tune=500)
MCMC = FitSettings(engine="mcmc", sampler=SAMPLER, retry=True)
#: The gate guarantees bulk ESS >= 400, so a posterior mean is within 4 MCSE <= 4 sd / sqrt(400) of its target.
MCSE_FACTOR = 4 / np.sqrt(400)


def test_structure_design_is_the_binomial_models_delta_mapping():
    net = ArmNetwork.from_data(load_arms(REF / "tsd4_smoking.csv"), reference="no_contact")
    sk = net.structure
    base_t, arm_t = net.baseline_of_arm[~net.is_baseline], net.treatment_of_arm[~net.is_baseline]
    expected = np.zeros((len(arm_t), len(net.treatments)))
    expected[np.arange(len(arm_t)), arm_t] += 1
    expected[np.arange(len(arm_t)), base_t] -= 1
    np.testing.assert_array_equal(sk.design, expected[:, 1:])
    labels = [f"{s}: {a} vs {b}" for s, a, b in sk.contrasts[["study", "treatment", "baseline"]].itertuples(index=False)]
    assert labels == list(net.delta_labels)


@pytest.fixture(scope="module")
def large():
    arms = large_sample_arms()
    net = ArmNetwork.from_data(arms, reference="a")
    post = BINOMIAL.fit(net, FIXED, MCMC)
    assert post.problems == ()
    return net, Network.from_contrasts(empirical_contrasts(arms), reference="a"), post


@pytest.mark.slow
def test_large_sample_node_split_matches_the_exact_engine(large):
    net, contrasts, post = large
    got, notes = node_split(net, FIXED, PROBS, consistency=post, settings=MCMC)
    assert notes == []
    want, _ = node_split(contrasts, FIXED, PROBS)
    # the contrast family's "direct" rows are the trials' own estimates (issue 15: honest direct estimates), not the
    # split model's direct parameter, which the binomial family still reports: compare the split model's other rows
    want = want[want["estimate"] != "direct"]
    key = ["treatment", "comparator", "estimate"]
    merged = got.merge(want, on=key, suffixes=("", "_exact"))
    assert len(merged) == len(want) == 9
    tol = MCSE_FACTOR * merged["sd_exact"]
    assert (np.abs(merged["mean"] - merged["mean_exact"]) < tol).all(), merged[key + ["mean", "mean_exact"]]
    np.testing.assert_allclose(merged["sd"], merged["sd_exact"], rtol=0.1)
    # p from 2,000 draws: binomial MC error, at most sqrt(0.25 / 400) * 2 sides * 4 = 0.1 with ESS >= 400
    assert (np.abs(merged["p_value"] - merged["p_value_exact"]) < 0.1).all()


@pytest.mark.slow
def test_ume_and_consistency_leverage_count_the_parameters(large):
    net, _, post = large
    _, totals = BINOMIAL.model_fit(net, post)
    ume, notes = ume_comparison(net, FIXED, consistency=post, settings=MCMC)
    assert notes == []
    total = ume.set_index("study").loc["TOTAL"]
    studies, pairs = len(net.arm_studies), len(ume_design(net)[1])
    assert total["leverage_consistency"] == pytest.approx(studies + len(net.treatments) - 1, abs=0.5)
    assert total["leverage_ume"] == pytest.approx(studies + pairs, abs=0.5)
    assert total["leverage_consistency"] == pytest.approx(totals["pD"])


@pytest.mark.slow
def test_sensitivity_fixed_effect_row_matches_the_exact_engine(large):
    """The analysis's own prior reuses the analysis draws (here exact random-effects draws of the empirical log-ORs,
    so its row must give their quantiles); the fixed-effect row is a binomial refit, checked against exact FE."""
    net, contrasts, _ = large
    spec = ModelSpec(effects="random", d_prior_sd=10.0, tau_prior=parse_tau_prior("half-normal(0.5)"), measure="OR",
                     lower_is_better=False)
    d, tau = fit_exact(contrasts, spec).sample(4000, np.random.default_rng(1))
    analysis = Posterior(net.treatments, net.treatments[1:], d.reshape(4, 1000, -1), tau.reshape(4, 1000), "mcmc")
    table, notes = heterogeneity_sensitivity(net, spec, PROBS, priors=(), settings=MCMC, fitted=((analysis, spec),))
    # (refits under other tau priors run end to end in test_binomial_validation.py::test_nma_run_on_mixed_evidence...)
    assert notes == []
    assert {"or_median", "or_lower", "or_upper"} <= set(table.columns) and "hr_median" not in table.columns
    assert table["prior"].unique().tolist() == ["half-normal(0.5)", "fixed effect"]
    assert table.groupby("prior").size().eq(len(net.treatments)).all()
    own = table[table["analysis"]].set_index("treatment")
    np.testing.assert_allclose(np.log(own.loc[["b", "c"], "or_median"]), np.median(d, axis=0), rtol=1e-12)
    assert own["tau_median"].iloc[0] == pytest.approx(np.median(tau), rel=1e-12)
    fe = table[table["prior"] == "fixed effect"].set_index("treatment")
    exact = exact_relative_effects(fit_exact(contrasts, FIXED), PROBS)
    exact = exact[exact["comparator"] == "a"].set_index("treatment")
    for t in ("b", "c"):
        sd = exact.loc[t, "sd"]
        assert np.log(fe.loc[t, "or_median"]) == pytest.approx(exact.loc[t, "median"], abs=MCSE_FACTOR * sd * 1.5)
    assert fe["tau_median"].isna().all()


@pytest.mark.slow
def test_smoking_node_split_and_ume_reproduce_multinma():
    """TSD4's smoking network, random effects: every node-split (direct, indirect, inconsistency, p) and the UME fit
    against multinma's published vignette output. Both sides are MCMC: a mean may differ by 4 combined MCSEs,
    sd * sqrt(1 / ESS_multinma + 1 / 400) (400: the least bulk ESS our gate lets through), plus 0.005 of rounding."""
    import json

    pub = json.loads((REF / "multinma_smoking_nodesplit.json").read_text())
    net = ArmNetwork.from_data(load_arms(REF / "tsd4_smoking.csv"), reference="no_contact")
    spec = ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=parse_tau_prior("half-normal(5)"), measure="OR",
                     lower_is_better=False)
    sampler = SamplerConfig(seed=2024, draws=1000, tune=600)
    settings = FitSettings(engine="mcmc", sampler=sampler, retry=True)
    post = BINOMIAL.fit(net, spec, settings)
    assert post.problems == ()
    got, notes = node_split(net, spec, PROBS, consistency=post, settings=settings)
    assert notes == []
    table = got.set_index(["treatment", "comparator", "estimate"])
    assert len(got) == 4 * len(pub["splits"])
    for sp in pub["splits"]:
        key = (sp["treatment"], sp["comparator"])
        for name, ours in (("d_dir", "direct"), ("d_ind", "indirect"), ("omega", "inconsistency")):
            mean, sd, ess = sp[name]
            row = table.loc[(*key, ours)]
            tol = 4 * sd * np.sqrt(1 / ess + 1 / 400) + 0.005
            assert row["mean"] == pytest.approx(mean, abs=tol), (key, name, row["mean"], mean, tol)
            assert row["sd"] == pytest.approx(sd, rel=0.15), (key, name, row["sd"], sd)
        assert table.loc[(*key, "inconsistency"), "p_value"] == pytest.approx(sp["p_value"], abs=0.1), key
    ume, notes = ume_comparison(net, spec, consistency=post, settings=settings)
    assert notes == []
    total = ume.set_index("study").loc["TOTAL"]
    tol = pub["ume"]["tolerance"]
    assert total["resdev_ume"] == pytest.approx(pub["ume"]["resdev"], abs=tol)
    assert total["leverage_ume"] == pytest.approx(pub["ume"]["pD"], abs=tol)
    assert total["dic_ume"] == pytest.approx(pub["ume"]["DIC"], abs=tol)
