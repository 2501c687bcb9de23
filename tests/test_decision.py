"""Decision probabilities P(effect < t) against the exact engine's closed form, and the [decision] config block."""

from pathlib import Path

import numpy as np
import pytest

import nma
from nma.app.assemble import analysis_network
from nma.app.config import load_config
from nma.app.validate import validate_config
from nma.core.synthetic import synthetic_network
from nma.errors import ConfigError, ModelSpecError
from nma.posterior.decision import decision_probabilities, default_thresholds, mixture_decision_probabilities

THRESHOLDS = (0.8, 1.0, 1.25)


@pytest.fixture(scope="module")
def exact_fit():
    net = nma.Network.from_contrasts(synthetic_network(4, 8, share_three_arm=0.3, tau=0.2, seed=2), measure="HR")
    return nma.fit(net, effects="random", engine="exact", tau_prior="half-normal(0.5)", draws=4000, chains=2, seed=7)


def mixture_pieces(fit, comparator):
    """Per tau node: mean and SD of every treatment versus `comparator` (the posterior of d given tau is normal)."""
    t = fit.treatments
    c = t.index(comparator)
    m, s = fit.posterior.exact.pairwise([(i, c) for i in range(len(t))])
    return fit.posterior.exact.weight, m, np.where(s > 0, s, 1.0)


@pytest.mark.parametrize("comparator", ["T01", "T03"])
def test_draws_agree_with_the_closed_form_within_mcse(exact_fit, comparator):
    """The exact engine's draws are independent, so |draws - closed form| < 4 sqrt(p (1 - p) / n) (seeded)."""
    fit = exact_fit
    draws = decision_probabilities(fit.posterior.all_treatment_draws(), fit.treatments, comparator, THRESHOLDS,
                                   fit.measure, lower_is_better=True)
    closed = mixture_decision_probabilities(*mixture_pieces(fit, comparator), fit.treatments, comparator, THRESHOLDS,
                                            fit.measure, lower_is_better=True)
    assert list(draws["treatment"]) == list(closed["treatment"])
    n = fit.posterior.all_treatment_draws().shape[0]
    p = closed["p_below"].to_numpy()
    bound = 4 * np.sqrt(p * (1 - p) / n) + 1e-12
    assert np.all(np.abs(draws["p_below"].to_numpy() - p) <= bound)
    np.testing.assert_allclose(draws["mcse"], np.sqrt(draws["p_below"] * (1 - draws["p_below"]) / n))


def test_closed_form_at_the_posterior_quantiles(exact_fit):
    """At the exact posterior's median and 2.5% quantile of each contrast (found by the engine's root solver),
    P(effect < t) is 0.5 and 0.025 exactly."""
    fit = exact_fit
    rel = fit.relative_effects(comparator="T01").set_index("treatment")
    pieces = mixture_pieces(fit, "T01")
    for treatment in fit.treatments[1:]:
        for col, p in (("median", 0.5), ("lower", 0.025), ("upper", 0.975)):
            t = float(np.exp(rel.loc[treatment, col]))
            tab = mixture_decision_probabilities(*pieces, fit.treatments, "T01", [t], fit.measure, True)
            assert tab.set_index("treatment").loc[treatment, "p_below"] == pytest.approx(p, abs=1e-8)


def test_favourable_side_and_complement(exact_fit):
    fit = exact_fit
    d = fit.posterior.all_treatment_draws()
    lower = decision_probabilities(d, fit.treatments, "T01", THRESHOLDS, fit.measure, True)
    higher = decision_probabilities(d, fit.treatments, "T01", THRESHOLDS, fit.measure, False)
    np.testing.assert_array_equal(lower["p_favourable"], lower["p_below"])
    np.testing.assert_array_equal(higher["p_favourable"], 1 - lower["p_below"])
    np.testing.assert_allclose(lower["p_below"] + lower["p_above"], 1.0)
    np.testing.assert_allclose(lower["threshold_model"], np.log(np.tile(THRESHOLDS, 3)))
    for _, g in lower.groupby("treatment"):     # P(HR < t) grows with t
        assert np.all(np.diff(g["p_below"].to_numpy()) >= 0)


def test_defaults_and_bad_arguments():
    hr, md = nma.MEASURES["HR"], nma.MEASURES["MD"]
    assert default_thresholds(hr, None) == (1.0,)
    assert default_thresholds(hr, 0.8) == (0.8, 1.0)
    assert default_thresholds(md, -2.0) == (-2.0, 0.0)
    d = np.zeros((10, 3))
    with pytest.raises(ModelSpecError, match="comparator="):
        decision_probabilities(d, ("A", "B", "C"), "Z", [1.0], hr, True)
    with pytest.raises(ModelSpecError, match="positive"):
        decision_probabilities(d, ("A", "B", "C"), "A", [0.0, 1.0], hr, True)


CONTRASTS = "study,treatment,y,se\nS1,A,,0.1\nS1,B,-0.3,0.2\nS1,C,-0.1,0.25\nS2,B,,\nS2,C,0.2,0.3\n"


def config(tmp_path: Path, decision: str) -> Path:
    (tmp_path / "contrasts.csv").write_text(CONTRASTS, encoding="utf-8")
    path = tmp_path / "c.toml"
    path.write_text(f'title = "d"\n[data]\ncontrasts = "contrasts.csv"\n[model]\neffects = "fixed"\n{decision}\n',
                    encoding="utf-8")
    return path


def test_config_decision_block(tmp_path):
    cfg = load_config(config(tmp_path, '[decision]\nthresholds = [0.8, 1, 1.25]\ncomparator = "B"'))
    assert cfg.decision_thresholds == (0.8, 1.0, 1.25) and cfg.decision_comparator == "B"
    validate_config(cfg, analysis_network(cfg).network)


@pytest.mark.parametrize("decision, match", [
    ('[decision]\nthresholds = ["0.8"]', r"\[decision\] thresholds"),
    ('[decision]\nthresholds = []', r"\[decision\] thresholds"),
    ('[decision]\nthreshold = [0.8]', r"\[decision\] threshold"),
])
def test_config_refuses_bad_decision_keys(tmp_path, decision, match):
    with pytest.raises(ConfigError, match=match):
        load_config(config(tmp_path, decision))


@pytest.mark.parametrize("decision, match", [
    ('[decision]\ncomparator = "Z"', r"\[decision\] comparator = \"Z\""),
    ('[decision]\nthresholds = [-0.8, 1.0]', r"\[decision\] thresholds"),
])
def test_validation_refuses_what_the_network_cannot_honour(tmp_path, decision, match):
    cfg = load_config(config(tmp_path, decision))
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg, analysis_network(cfg).network)
