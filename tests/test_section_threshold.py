"""The threshold report section: the same numbers as nma.threshold and decision_probabilities, the config's
[decision] settings, a warning naming exactly the sensitive studies, and no section for a binomial analysis."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import nma
from nma.core.synthetic import synthetic_network
from nma.posterior.decision import decision_probabilities
from nma.reporting import section_threshold, sections


def deliverables(fit, raw=None, mid=None, posterior=True):
    post = fit.posterior
    return SimpleNamespace(cfg=SimpleNamespace(raw=raw or {}, mid=mid), network=fit.network, spec=fit.spec,
                           draws=post.all_treatment_draws(), tau_draws=post.flat_tau(),
                           posterior=post if posterior else None)


@pytest.fixture(scope="module")
def fit():
    net = nma.Network.from_contrasts(synthetic_network(4, 7, share_three_arm=0.3, seed=4), measure="HR")
    return nma.fit(net, effects="random", engine="exact", tau_prior="half-normal(0.5)", chains=2, draws=1000, seed=3)


def test_section_tables_are_the_api_tables(fit):
    s = section_threshold.section(deliverables(fit, raw={"decision": {"thresholds": [0.8, 1.25], "comparator": "T02"}}))
    assert "nma.reporting.section_threshold:section" in sections.PRODUCERS
    pd.testing.assert_frame_equal(s.tables["threshold_study.csv"], nma.threshold(fit, level="study"))
    pd.testing.assert_frame_equal(s.tables["threshold_contrast.csv"], nma.threshold(fit, level="contrast"))
    expected = decision_probabilities(fit.posterior.all_treatment_draws(), fit.treatments, "T02", [0.8, 1.25],
                                      fit.measure, True)
    pd.testing.assert_frame_equal(s.tables["decision_probabilities.csv"], expected)
    assert Path(s.figures[section_threshold.FIGURE]).is_file()
    sensitive = nma.threshold(fit).query("sensitive")["study"]
    if len(sensitive):
        assert len(s.notes) == 1 and all(st in s.notes[0] for st in sensitive)
    else:
        assert s.notes == ()


def test_defaults_are_the_reference_null_and_mid(fit):
    s = section_threshold.section(deliverables(fit, mid=0.8))
    probs = s.tables["decision_probabilities.csv"]
    assert set(probs["comparator"]) == {fit.network.reference}
    assert sorted(set(probs["threshold"])) == [0.8, 1.0]
    # with an MID the thresholds of the MID decision: farther out on both sides (the rival must gain log(1/0.8) more)
    pd.testing.assert_frame_equal(s.tables["threshold_study_mid.csv"], nma.threshold(fit, mid=0.8))
    plain, mid = s.tables["threshold_study.csv"], s.tables["threshold_study_mid.csv"]
    assert np.all(mid["upper_threshold"] >= plain["upper_threshold"]) and np.all(mid["lower_threshold"] <= plain["lower_threshold"])


def test_draws_only_deliverables_agree_with_the_exact_posterior(fit):
    """Without the Posterior (only draws), the study thresholds come from the draws' mean and tau median: the same
    decision, and thresholds within the Monte Carlo error of 2000 exact draws (a few per cent)."""
    exact = section_threshold.section(deliverables(fit)).tables["threshold_study.csv"]
    draws = section_threshold.section(deliverables(fit, posterior=False)).tables["threshold_study.csv"]
    assert list(exact["optimal"]) == list(draws["optimal"])
    for col in ("lower_threshold", "upper_threshold"):
        a, b = exact[col].to_numpy(), draws[col].to_numpy()
        near = np.isfinite(a) & (np.abs(a) < 5)
        np.testing.assert_allclose(b[near], a[near], rtol=0.1, atol=0.02)


def test_no_section_for_arm_level_data():
    arms = pd.DataFrame({"study": ["S1", "S1", "S2", "S2"], "treatment": ["A", "B", "A", "C"],
                         "r": [10, 15, 12, 20], "n": [100, 100, 100, 100]})
    net = nma.ArmNetwork.from_arms(arms)
    d = SimpleNamespace(cfg=SimpleNamespace(raw={}, mid=None), network=net)
    assert section_threshold.section(d) is None
