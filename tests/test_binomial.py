"""Arm-level binary data: loading and selection, the binomial model's log-density against scipy (no sampling),
zero cells, TSD2's binomial residual deviance by hand, and what the config refuses."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import HEADER, SOURCES, TREATMENTS, write_data
from helpers import REF
from scipy import special, stats

from nma.app.config import load_config
from nma.core.arms import ArmNetwork
from nma.errors import ConfigError, EvidenceError, ModelWarning, NetworkDataError
from nma.evidence.counts import counts_matching, select_arms
from nma.evidence.evidence import load
from nma.evidence.selection import Selection, TrialChoice
from nma.inputs.arms import load_arms
from nma.models.binomial import binomial_deviance, model_fit
from nma.models.binomial_pymc import build_binomial_model, centred_contrasts
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec

#: PyMC's normal log-density constants are single precision (see test_model.py): measured 6.4e-8 per N(0, 100^2) or
#: N(0, s^2) prior term here (27 of them in the smoking network give 1.7e-6), so 1e-7 per term; a modelling error
#: (one arm's likelihood wrong) is orders larger.
PER_TERM_ATOL = 1e-7


def atol(net: ArmNetwork) -> float:
    return PER_TERM_ATOL * (len(net.arm_studies) + len(net.treatments) - 1)


def smoking() -> ArmNetwork:
    return ArmNetwork.from_data(load_arms(REF / "tsd4_smoking.csv"), reference="no_contact")


def scipy_logp(net: ArmNetwork, d: np.ndarray, mu: np.ndarray, delta_by_arm: dict, d_sd: float) -> float:
    """Independent: binomial log-pmf of every arm at logit^-1(mu_study + delta_arm), plus the normal priors."""
    total = stats.norm.logpdf(d, 0, d_sd).sum() + stats.norm.logpdf(mu, 0, 100).sum()
    for rec in net.arms.itertuples(index=False):
        i = net.arm_studies.index(rec.study)
        total += stats.binom.logpmf(rec.r, rec.n, special.expit(mu[i] + delta_by_arm.get((rec.study, rec.treatment), 0.0)))
    return total


def weighted_shift(net: ArmNetwork, delta_by_arm: dict) -> np.ndarray:
    """sum_k w_ik delta_ik per study with w ~ n p(1 - p), p = (r + 0.5)/(n + 1): m = mu + shift (the sampled variable)."""
    out = []
    for study in net.arm_studies:
        g = net.arms[net.arms["study"] == study]
        p = (g["r"] + 0.5) / (g["n"] + 1)
        w = (g["n"] * p * (1 - p)).to_numpy()
        dl = np.array([delta_by_arm.get((study, t), 0.0) for t in g["treatment"]])
        out.append((w * dl).sum() / w.sum())
    return np.array(out)


def test_smoking_network_structure():
    net = smoking()
    assert net.treatments == ("no_contact", "group", "individual", "self_help")
    assert len(net.arm_studies) == 24 and len(net.arms) == 50
    assert len(net.delta_labels) == 26
    assert net.delta_labels[:2] == ["1: group vs no_contact", "1: individual vs no_contact"]  # network order
    assert "2 multi-arm" in net.summary()


def test_fixed_effect_logp_matches_scipy():
    net = smoking()
    model = build_binomial_model(net, ModelSpec(effects="fixed", d_prior_sd=100.0, measure="OR"))
    d = np.array([1.1, 0.8, 0.5])                              # group, individual, self_help vs no_contact
    D = dict(zip(net.treatments, np.concatenate([[0.0], d])))
    mu = np.linspace(-3.0, -1.0, 24)
    delta = {(s, t): D[t] - D[net.arms[net.arms["study"] == s]["treatment"].iloc[0]]
             for s, t in net.arms[["study", "treatment"]].itertuples(index=False)}
    m = mu + weighted_shift(net, delta)
    logp = model.compile_logp()({"d": d, "m": m})
    assert logp == pytest.approx(scipy_logp(net, d, mu, delta, 100.0), abs=atol(net))


def test_random_effects_logp_matches_scipy():
    """Per study, non-centred (delta = theta + tau L z, z ~ N(0, I)) or centred (delta ~ MVN(theta, tau^2 C) sampled
    itself), L the Cholesky factor of C = [[1, .5], [.5, 1]] in the two 3-arm studies; the model's density drops the
    normalising constants of both (log 2 pi, log det C), which the expected value here adds back."""
    net = smoking()
    model = build_binomial_model(net, ModelSpec(effects="random", d_prior_sd=100.0, measure="OR",
                                                tau_prior=parse_tau_prior("half-normal(0.5)")))
    centred = centred_contrasts(net)
    assert 0 < centred.sum() < len(centred)      # both forms occur in this network
    rng = np.random.default_rng(3)
    d, tau, z = np.array([1.1, 0.8, 0.5]), 0.7, rng.standard_normal(26)
    D = dict(zip(net.treatments, np.concatenate([[0.0], d])))
    C3 = np.array([[1.0, 0.5], [0.5, 1.0]])
    L3 = np.linalg.cholesky(C3)
    delta, u, j = {}, np.empty(26), 0
    expected_prior = 0.0
    for study, g in net.arms.groupby("study", sort=False):
        base, others = g["treatment"].iloc[0], list(g["treatment"].iloc[1:])
        k = len(others)
        C, L = (C3, L3) if k == 2 else (np.eye(1), np.eye(1))
        theta = np.array([D[t] - D[base] for t in others])
        if centred[j]:
            value = theta + tau * (L @ z[j:j + k])             # a delta of the right scale, sampled as itself
            u[j:j + k] = value
            expected_prior += stats.multivariate_normal(theta, tau ** 2 * C).logpdf(value)
            expected_prior -= -0.5 * np.log(np.linalg.det(C)) - k / 2 * np.log(2 * np.pi)
        else:
            value = theta + tau * (L @ z[j:j + k])
            u[j:j + k] = z[j:j + k]
            expected_prior += stats.norm.logpdf(z[j:j + k]).sum() + k / 2 * np.log(2 * np.pi)
        for t, e in zip(others, value):
            delta[(study, t)] = e
        j += k
    mu = np.linspace(-3.0, -1.0, 24)
    m = mu + weighted_shift(net, delta)
    logp = model.compile_logp(jacobian=False)({"d": d, "m": m, "z": u, "tau_log__": math.log(tau)})
    expected = scipy_logp(net, d, mu, delta, 100.0) + expected_prior + stats.halfnorm.logpdf(tau, scale=0.5)
    assert logp == pytest.approx(expected, abs=atol(net))


def test_named_dims():
    model = build_binomial_model(smoking(), ModelSpec(effects="random", measure="OR"))
    assert model.named_vars_to_dims["d"] == ("treatment",)
    assert model.named_vars_to_dims["mu"] == ("study",)
    assert model.named_vars_to_dims["r"] == ("arm",)
    assert list(model.coords["treatment"]) == ["group", "individual", "self_help"]


MIXED_ARMS = "study,treatment,r,n\nA1,a,10,100\nA1,b,20,100\nA2,a,0,40\nA2,c,5,40\n"
#: two contrast-level studies: b vs c, and a 3-arm c / b / d (reference c, reference-arm se 0.2)
MIXED_CONTRASTS = "study,treatment,y,se\nC1,c,,\nC1,b,0.3,0.25\nC2,c,,0.2\nC2,b,0.1,0.3\nC2,d,0.5,0.35\n"


def mixed(tmp_path) -> ArmNetwork:
    from nma.inputs.contrasts import load_contrasts

    (tmp_path / "arms.csv").write_text(MIXED_ARMS)
    (tmp_path / "c.csv").write_text(MIXED_CONTRASTS)
    return ArmNetwork.from_data(load_arms(tmp_path / "arms.csv"), load_contrasts(tmp_path / "c.csv"), reference="a")


def test_mixed_evidence_logp_matches_scipy(tmp_path):
    """Shared d and tau: binomial arms plus the contrast studies' MVN(X d, V + tau^2 C) on the log-OR scale."""
    net = mixed(tmp_path)
    assert net.treatments == ("a", "b", "c", "d")
    model = build_binomial_model(net, ModelSpec(effects="random", d_prior_sd=10.0, measure="OR",
                                                tau_prior=parse_tau_prior("half-normal(0.5)")))
    d = np.array([0.6, 0.2, 0.9])                    # b, c, d vs a
    tau, z = 0.4, np.array([0.5, -1.0])
    delta = {("A1", "b"): 0.6 + tau * 0.5, ("A2", "c"): 0.2 - tau * 1.0}
    theta = np.array([0.6, 0.2])
    centred = centred_contrasts(net)                  # whichever form each study is sampled in
    u = np.where(centred == 1, list(delta.values()), z)
    prior = np.where(centred == 1, stats.norm.logpdf(u, theta, tau), stats.norm.logpdf(z)) + 0.5 * np.log(2 * np.pi)
    mu = np.array([-2.0, -3.5])
    m = mu + weighted_shift(net, delta)
    logp = model.compile_logp(jacobian=False)({"d": d, "m": m, "z": u, "tau_log__": math.log(tau)})
    expected = scipy_logp(net, d, mu, delta, 10.0) + prior.sum() + stats.halfnorm.logpdf(tau, scale=0.5)
    # C1: b vs c = 0.6 - 0.2; C2: b vs c and d vs c, covariance 0.2^2 off the diagonal, tau^2 x 0.5 between arms
    expected += stats.norm.logpdf(0.3, 0.4, math.sqrt(0.25**2 + tau**2))
    cov = np.array([[0.3**2, 0.2**2], [0.2**2, 0.35**2]]) + tau**2 * np.array([[1, 0.5], [0.5, 1]])
    expected += stats.multivariate_normal.logpdf([0.1, 0.5], [0.4, 0.7], cov)
    assert logp == pytest.approx(expected, abs=atol(net))


def test_mixed_network_needs_both_parts_to_connect(tmp_path):
    net = mixed(tmp_path)
    assert "2 with arm-level counts" in net.summary() and "2 with contrast-level log-ORs" in net.summary()
    (tmp_path / "arms2.csv").write_text("study,treatment,r,n\nA1,a,10,100\nA1,e,20,100\n")
    from nma.inputs.contrasts import load_contrasts

    with pytest.raises(NetworkDataError, match="disconnected"):
        ArmNetwork.from_data(load_arms(tmp_path / "arms2.csv"), load_contrasts(tmp_path / "c.csv"))


def test_zero_cells_give_a_finite_density_and_gradient():
    """r = 0 and r = n arms: the binomial likelihood takes them as they are (pytest turns warnings into errors)."""
    arms = pd.DataFrame({"study": ["s1", "s1", "s2", "s2", "s3", "s3"], "treatment": ["a", "b", "a", "c", "b", "c"],
                         "r": [0, 3, 0, 0, 12, 12], "n": [20, 20, 15, 15, 12, 12]})
    net = ArmNetwork.from_data(arms, reference="a")
    for effects in ("fixed", "random"):
        model = build_binomial_model(net, ModelSpec(effects=effects, measure="OR"))
        point = model.initial_point()
        for far in (-30.0, 0.0, 30.0):
            point["m"] = np.full(3, far)
            assert np.isfinite(model.compile_logp()(point))
            assert np.all(np.isfinite(model.compile_dlogp()(point)))


def test_binomial_deviance_by_hand():
    """TSD2: dev = 2 [r log(r/rhat) + (n - r) log((n - r)/(n - rhat))], with 0 log 0 = 0."""
    r, n, rhat = np.array([0.0, 5, 10, 3]), np.array([10.0, 10, 10, 20]), np.array([1.0, 4, 9.5, 3])
    hand = [2 * 10 * math.log(10 / 9),                                   # r = 0: only the non-responder term
            2 * (5 * math.log(5 / 4) + 5 * math.log(5 / 6)),
            2 * 10 * math.log(10 / 9.5),                                 # r = n: only the responder term
            0.0]                                                         # a perfect fit
    np.testing.assert_allclose(binomial_deviance(r, n, rhat), hand, rtol=1e-12, atol=1e-14)


def test_model_fit_per_study_by_hand():
    """Two draws of one two-arm study, fixed effect: mean deviance, deviance at the mean fitted counts, pD, DIC."""
    arms = pd.DataFrame({"study": ["s", "s"], "treatment": ["a", "b"], "r": [2, 6], "n": [10, 10]})
    net = ArmNetwork.from_data(arms, reference="a")
    p = np.array([[0.1, 0.5], [0.3, 0.7]])                     # draws x arms
    mu, delta = special.logit(p[:, :1]), special.logit(p[:, 1:]) - special.logit(p[:, :1])
    table, totals = model_fit(net, mu, delta, np.column_stack([np.zeros(2), delta[:, 0]]), None)

    def dev(r, n, rh):
        return 2 * (r * math.log(r / rh) + (n - r) * math.log((n - r) / (n - rh)))
    per_draw = [dev(2, 10, 1) + dev(6, 10, 5), dev(2, 10, 3) + dev(6, 10, 7)]
    at_mean = dev(2, 10, 2) + dev(6, 10, 6)                     # mean fitted counts 2 and 6: a perfect fit
    assert table.loc[0, "resdev"] == pytest.approx(np.mean(per_draw), rel=1e-12)
    assert table.loc[0, "leverage"] == pytest.approx(np.mean(per_draw) - at_mean, rel=1e-12)
    assert totals["DIC"] == pytest.approx(2 * np.mean(per_draw) - at_mean, rel=1e-12)
    assert totals["n_datapoints"] == 2


def test_arm_csv_validation(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("study,treatment,r,n\ns1,a,12,10\ns1,b,3,10\n")
    with pytest.raises(EvidenceError, match=r"row 2, column 'r'.*exceed"):
        load_arms(path)
    path.write_text("study,treatment,r,n\ns1,a,2.5,10\ns1,b,3,10\n")
    with pytest.raises(EvidenceError, match="column 'r'"):
        load_arms(path)
    path.write_text("study,treatment,r,n\ns1,a,2,10\n")
    with pytest.raises(EvidenceError, match="single arm"):
        load_arms(path)


PCR = HEADER + """
T1,primary,2020-01,neoadjuvant,pcr,ypT0/is,itt,B,experimental,100,45,,,,,,,,,,45,s1,Table 2
T1,primary,2020-01,neoadjuvant,pcr,ypT0/is,itt,A,control,102,,,,,,,,,,,29,s1,Table 2
T2,primary,2021-06,neoadjuvant,pcr,ypT0/is,itt,C,experimental,,,,,,,,,,40.1,,,s1,Table 3
T2,primary,2021-06,neoadjuvant,pcr,ypT0/is,itt,A,control,,,,,,,,,,30.2,,,s1,Table 3
"""


def test_select_arms_takes_counts_and_logs_rates(tmp_path):
    ev = load(write_data(tmp_path / "data", evidence=PCR, treatments=TREATMENTS, sources=SOURCES))
    sel = select_arms(ev, Selection(setting="neoadjuvant", outcome="pcr", outcome_definition="ypT0/is"))
    arms = sel.contrasts
    assert list(arms[["treatment", "r", "n"]].itertuples(index=False, name=None)) == [("B", 45, 100), ("A", 29, 102)]
    assert any("T2: no responders and n per arm (a rate alone enters only with [data] responders_from_rates" in line
               for line in sel.log)


@pytest.mark.parametrize("rate, decimals, n, expected", [
    (21.5, 1, 107, [23]),          # 23/107 = 21.495%: the only count
    (29.0, 0, 107, [31]),          # printed '29': 31/107 = 28.97%; 30/107 = 28.04%, 32/107 = 29.91% do not round to 29
    (51.0, 0, 152, [77, 78]),      # too coarse for 152 patients
    (27.6, 1, 149, []),            # 41/149 = 27.52%, 42/149 = 28.19%: the denominator is not 149
    (0.0, 1, 60, [0]),
    (100.0, 0, 12, [12]),
])
def test_counts_matching_is_every_k_that_rounds_to_the_printed_rate(rate, decimals, n, expected):
    assert list(counts_matching(rate, decimals, n)) == expected
    for k in range(n + 1):   # brute force, independent of the vectorised tolerance
        assert (k in expected) == (round(100 * k / n, decimals) == rate or abs(100 * k / n - rate) == 0.5 * 10 ** -decimals)


RATES = HEADER + """
T1,primary,,neoadjuvant,pcr,ypT0/is,itt,B,experimental,100,,,,,,,,,,,,s1,abstract
T1,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,102,,,,,,,,,,,,s1,abstract
T1,primary,,neoadjuvant,pcr,ypT0/is,itt,B,experimental,,,,,,,,,,45.0,,,s2,Table 3
T1,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,,,,,,,,,,28.4,,,s2,Table 3
T2,primary,,neoadjuvant,pcr,ypT0/is,itt,C,experimental,90,,,,,,,,,40,,,s1,Table 1
T2,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,80,,,,,,,,,33.3,,,s1,Table 1
T3,primary,,neoadjuvant,pcr,ypT0/is,itt,C,experimental,150,,,,,,,,,40,,,s1,Table 1
T3,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,150,,,,,,,,,30.1,,,s1,Table 1
T4,primary,,neoadjuvant,pcr,ypT0/is,itt,C,experimental,,,,,,,,,,40.0,,,s2,Table 3
T4,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,,,,,,,,,,30.0,,,s2,Table 3
T4,primary,,neoadjuvant,pcr,ypT0/is,itt,C,experimental,50,,,,,,,,,,,,s1,abstract
T4,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,50,,,,,,,,,,,,s1,abstract
T4,primary,,neoadjuvant,pcr,ypT0/is ypN0,itt,C,experimental,60,,,,,,,,,,,,s1,Table 2
"""


def test_responders_from_rates_derives_only_exact_counts(tmp_path):
    ev = load(write_data(tmp_path / "data", evidence=RATES, treatments=TREATMENTS,
                         sources=SOURCES + "s2,Review table,2020,https://example.org/s2,,secondary_summary\n"))
    sel = Selection(setting="neoadjuvant", outcome="pcr", outcome_definition="ypT0/is", responders_from_rates=True,
                    trials={"T1": TrialChoice(source="s2"), "T4": TrialChoice(source="s2")})
    got = select_arms(ev, sel)
    arms = got.contrasts.set_index(["study", "treatment"])
    # T1: rates of one source, n of another (same trial, analysis, population, arm): 45/100 and 29/102 = 28.43%
    assert arms.loc[("T1", "B"), ["r", "n"]].tolist() == [45, 100] and arms.loc[("T1", "A"), ["r", "n"]].tolist() == [29, 102]
    assert "n = 102 (s1, abstract)" in arms.loc[("T1", "A"), "responders_derivation"]
    # T2: 36/90 = 40% and 80 x 33.3% = 26.64: no whole count of 80 gives 33.3% -> arm left out, trial dropped
    assert ("T2", "C") not in arms.index
    assert any("T2: A: rate 33.3%" in line and "no whole number" in line for line in got.log)
    # T3: 40% of 150 is 60 exactly (one count); 30.1% of 150 is 45.15 -> 45/150 = 30.0%: none
    assert any("T3: A: rate 30.1%" in line for line in got.log)
    # T4: two sources disagree on arm C's n (50 and 60): not derived, and the log names both
    assert any("T4: C: rate 40.0%" in line and "sources give n = 50, 60" in line for line in got.log)
    assert ("T4", "A") not in arms.index
    # off by default: the same evidence without the switch has no counts at all
    with pytest.raises(NetworkDataError, match="responders_from_rates"):
        select_arms(ev, Selection(setting="neoadjuvant", outcome="pcr", outcome_definition="ypT0/is",
                                  trials={"T1": TrialChoice(source="s2")}, include_trials=("T1",)))


def test_responders_from_rates_is_for_binary_outcomes(tmp_path):
    cfg = tmp_path / "a.toml"
    cfg.write_text('title = "x"\n[data]\nsetting = "adjuvant"\noutcome = "idfs"\nresponders_from_rates = true\n')
    with pytest.raises(ConfigError, match="responders_from_rates applies to binary outcomes"):
        load_config(cfg)


def binary_config(tmp_path, extra: str = "") -> str:
    write_data(tmp_path / "data", evidence=PCR)
    path = tmp_path / "pcr.toml"
    path.write_text(f'[data]\nsetting = "neoadjuvant"\noutcome = "pcr"\noutcome_definition = "ypT0/is"\nevidence = "data"\n'
                    f'[model]\n{extra}')
    return path


def test_exact_engine_is_refused_for_binomial_data(tmp_path):
    """Refused once the network shows the family (binomial: no closed form), before any fit."""
    from nma.app.run import prepare

    cfg = load_config(binary_config(tmp_path, 'engine = "exact"\n'))
    with pytest.raises(ConfigError, match='engine = "exact" does not apply to binomial'):
        prepare(cfg, cfg.engine)


def test_response_default_direction_and_warning(tmp_path):
    cfg = load_config(binary_config(tmp_path))
    assert cfg.binary
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)
        spec = ModelSpec.from_config(cfg.model, measure="OR", lower_is_better_default=False)
    assert spec.lower_is_better is False and spec.measure == "OR"
    assert "log odds ratio" in spec.describe()
    with pytest.warns(ModelWarning, match="lower_is_better = true for a binary"):
        ModelSpec.from_config({"effects": "fixed", "d_prior_sd": 10, "lower_is_better": True}, measure="OR", lower_is_better_default=False)


def test_one_trial_typed_under_two_names_is_refused_in_arm_data():
    arms = pd.DataFrame({"study": ["T1", "T1", "T-1", "T-1", "T2", "T2"], "treatment": ["a", "b", "a", "b", "a", "c"],
                         "r": [10, 20, 10, 20, 5, 9], "n": [100, 100, 100, 100, 50, 50]})
    with pytest.raises(EvidenceError, match=r"T1.*T-1|T-1.*T1"):
        ArmNetwork.from_arms(arms)
