"""Node-splitting and UME against independent answers: normal closed forms, explicit GLS after a change of
baseline, brute-force quadrature, and the comparisons multinma's documentation lists for the Parkinson's network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import exact_draws, parkinsons, tsd2_spec
from scipy import stats

from nma.checks.inconsistency import (
    NO_LOOPS,
    bayesian_p_value,
    has_indirect,
    node_split,
    nodesplit_design,
    split_comparisons,
    ume_comparison,
    ume_design,
)
from nma.core.network import Network
from nma.core.synthetic import shifted_comparison, synthetic_network
from nma.models.exact import fit_exact
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec

PROBS = (0.025, 0.5, 0.975)
VAGUE = 1e4   # prior SD on every parameter: its pull on the posterior is of order (se / VAGUE)^2 ~ 1e-9
FE = ModelSpec(effects="fixed", d_prior_sd=VAGUE)


def contrasts(*studies) -> pd.DataFrame:
    """studies: (name, baseline, baseline_se or None, [(treatment, y, se), ...])."""
    rows = []
    for name, base, base_se, arms in studies:
        rows.append({"study": name, "treatment": base, "y": np.nan, "se": np.nan if base_se is None else base_se})
        rows += [{"study": name, "treatment": t, "y": y, "se": se} for t, y, se in arms]
    return pd.DataFrame(rows)


def design_only(*arms_per_study) -> Network:
    """A network with only its structure of interest: every contrast y = 0.1, se = 0.3, reference arm se 0.1."""
    studies = [(f"S{i}", arms[0], 0.1 if len(arms) > 2 else None, [(t, 0.1, 0.3) for t in arms[1:]])
               for i, arms in enumerate(arms_per_study)]
    return Network.from_contrasts(contrasts(*studies), reference="A")


def splits(net: Network) -> set[tuple[str, str]]:
    return {(s.comparator, s.treatment) for s in split_comparisons(net)}


def row(table, treatment, comparator, estimate):
    t = table[(table.treatment == treatment) & (table.comparator == comparator) & (table.estimate == estimate)]
    assert len(t) == 1
    return t.iloc[0]


# ---- which comparisons to split (van Valkenhoef et al. 2016) ------------------------------------------------
def test_parkinsons_splits_as_multinma_documents():
    """multinma's get_nodesplits() reference page (example on the TSD2 Parkinson's network, which it says is
    discussed in van Valkenhoef 2016) prints the comparisons 1-3, 1-4, 2-4, 3-4; has_indirect(4, 5) and
    has_indirect(1, 2) are FALSE (a spur, and a loop formed only by a multi-arm study), has_indirect(1, 5) TRUE.
    https://dmphillippo.github.io/multinma/reference/get_nodesplits.html"""
    net = parkinsons()
    assert splits(net) == {("1", "3"), ("1", "4"), ("2", "4"), ("3", "4")}
    assert not has_indirect(net, "4", "5")
    assert not has_indirect(net, "1", "2")
    assert has_indirect(net, "1", "5")


@pytest.mark.parametrize("arms, expected", [
    ([("A", "B", "C")], set()),                                        # only a three-arm trial: consistent by design
    ([("A", "B", "C"), ("A", "B")], set()),                            # every A-B-C loop is inside the three-arm trial
    ([("A", "B"), ("A", "C"), ("A", "D")], set()),                     # a star: no loop
    ([("A", "B"), ("B", "C"), ("A", "C")], {("A", "B"), ("A", "C"), ("B", "C")}),
    ([("A", "B", "C"), ("B", "D"), ("C", "D")], {("B", "C"), ("B", "D"), ("C", "D")}),
    ([("A", "B", "C"), ("A", "D"), ("B", "D")], {("A", "B"), ("A", "D"), ("B", "D")}),
    ([("A", "B", "C", "D"), ("A", "B"), ("C", "D")], set()),           # four-arm trial plus edges of its own
    ([("A", "B", "C"), ("A", "B"), ("A", "C")], {("B", "C")}),          # B-A-C without the three-arm trial
])
def test_selection_rule(arms, expected):
    assert splits(design_only(*arms)) == expected


def test_no_loops_gives_no_table():
    net = design_only(("A", "B", "C"), ("A", "B"), ("C", "D"))
    assert node_split(net, FE, PROBS)[0] is None
    assert NO_LOOPS == "no comparison has both direct and independent indirect evidence"


# ---- fixed effect triangle: normal closed forms ---------------------------------------------------------------
Y_AB, SE_AB, Y_BC, SE_BC, Y_AC, SE_AC = -0.30, 0.15, -0.20, 0.20, -0.10, 0.25


def triangle(y_ac: float = Y_AC) -> Network:
    return Network.from_contrasts(contrasts(("AB", "A", None, [("B", Y_AB, SE_AB)]),
                                            ("BC", "B", None, [("C", Y_BC, SE_BC)]),
                                            ("AC", "A", None, [("C", y_ac, SE_AC)])), reference="A")


def test_triangle_fixed_effect_closed_form():
    table = node_split(triangle(), FE, PROBS)[0]
    z = stats.norm.ppf(0.975)
    ind, v_ind = Y_AB + Y_BC, SE_AB**2 + SE_BC**2
    direct = row(table, "C", "A", "direct")
    assert direct["mean"] == pytest.approx(Y_AC, abs=1e-7)
    assert direct["sd"] == pytest.approx(SE_AC, rel=1e-7)
    assert direct["lower"] == pytest.approx(Y_AC - z * SE_AC, abs=1e-7)
    indirect = row(table, "C", "A", "indirect")
    assert indirect["mean"] == pytest.approx(ind, abs=1e-7)
    assert indirect["sd"] == pytest.approx(np.sqrt(v_ind), rel=1e-7)
    network = row(table, "C", "A", "network")          # inverse-variance pooling of direct and indirect
    w = np.array([1 / SE_AC**2, 1 / v_ind])
    assert network["mean"] == pytest.approx((w @ [Y_AC, ind]) / w.sum(), abs=1e-7)
    assert network["sd"] == pytest.approx(w.sum() ** -0.5, rel=1e-7)
    omega = row(table, "C", "A", "inconsistency")
    sd = np.sqrt(SE_AC**2 + v_ind)
    assert omega["mean"] == pytest.approx(Y_AC - ind, abs=1e-7)
    assert omega["sd"] == pytest.approx(sd, rel=1e-7)
    assert omega["upper"] == pytest.approx(Y_AC - ind + z * sd, abs=1e-7)
    assert omega["p_value"] == pytest.approx(2 * stats.norm.sf(abs(Y_AC - ind) / sd), rel=1e-6)
    # in a single loop every split sees the same loop, so the same p-value
    np.testing.assert_allclose(table["p_value"], omega["p_value"], rtol=1e-8)
    assert row(table, "B", "A", "direct")["mean"] == pytest.approx(Y_AB, abs=1e-7)
    assert row(table, "C", "B", "indirect")["mean"] == pytest.approx(Y_AC - Y_AB, abs=1e-7)


def test_shifted_loop_is_flagged():
    """A direct effect 1.0 log-HR off the indirect one (z = 2.8 in this loop) is flagged; an equal one gives p = 1."""
    assert row(node_split(triangle(Y_AB + Y_BC + 1.0), FE, PROBS)[0], "C", "A", "inconsistency")["p_value"] < 0.01
    assert row(node_split(triangle(Y_AB + Y_BC), FE, PROBS)[0], "C", "A", "inconsistency")["p_value"] == pytest.approx(1.0)


# ---- seeded synthetic networks: power on a shifted loop, calibration on consistent ones --------------------------
SHIFT = 1.5   # log-HR added to the direct effect of one comparison (a 4.5-fold HR)


@pytest.mark.parametrize("seed", range(1, 9))
def test_synthetic_shift_touches_only_the_shifted_two_arm_trials(seed):
    base = synthetic_network(6, 16, tau=0.1, seed=seed, se_range=(0.1, 0.2))
    shifted = synthetic_network(6, 16, tau=0.1, seed=seed, se_range=(0.1, 0.2), inconsistency=SHIFT)
    x, y = shifted_comparison(shifted)
    assert shifted_comparison(base) == (x, y)
    arms = base.groupby("study")["treatment"].agg(frozenset)
    assert not any(len(a) > 2 and {x, y} <= a for a in arms)          # its direct evidence is two-arm only
    changed = ~np.isclose(base["y"], shifted["y"]) & base["y"].notna()
    expected = base["study"].map(arms).eq(frozenset((x, y))) & base["y"].notna()
    assert changed.equals(expected) and expected.any()
    sign = np.where(base.loc[changed, "treatment"] == y, 1.0, -1.0)   # y vs x, or x vs y when y is the baseline
    np.testing.assert_allclose(shifted.loc[changed, "y"] - base.loc[changed, "y"], SHIFT * sign, atol=1e-12)


def test_synthetic_shift_needs_a_loop():
    tree = synthetic_network(4, 3, seed=1)
    assert shifted_comparison(tree) is None
    with pytest.raises(ValueError, match="no loop"):
        synthetic_network(4, 3, seed=1, inconsistency=1.0)


@pytest.mark.parametrize("effects", ["fixed", "random"])
@pytest.mark.parametrize("seed", range(1, 9))
def test_shifted_comparison_is_flagged(seed, effects):
    """The shifted comparison gets p < 0.05, fixed and random effects, on eight seeded networks.

    Power is essentially 1 by construction: the shift enters only two-arm trials, so under fixed effect the
    node-split estimate of the inconsistency factor is the GLS estimate, normal with mean SHIFT and an SD that
    depends on the SEs and the design only (never on y). The precondition SHIFT / SD >= 5 gives power
    Phi(5 - 1.96) > 0.998 per network. Heterogeneity is small (tau = 0.1 against SEs 0.1 to 0.2), so under
    random effects the SD grows little and the shift still dominates.
    """
    table = synthetic_network(6, 16, tau=0.1, seed=seed, se_range=(0.1, 0.2), inconsistency=SHIFT)
    x, y = shifted_comparison(table)
    net = Network.from_contrasts(table)
    fe = row(node_split(net, FE, PROBS)[0], y, x, "inconsistency")
    assert SHIFT / fe["sd"] >= 5
    spec = FE if effects == "fixed" else ModelSpec(effects="random", d_prior_sd=VAGUE,
                                                   tau_prior=parse_tau_prior("half-normal(0.5)"))
    omega = row(node_split(net, spec, PROBS)[0], y, x, "inconsistency")
    assert omega["p_value"] < 0.05
    assert omega["mean"] > 0          # in the direction of the shift


def one_split_p_values(effects: str, n_networks: int) -> np.ndarray:
    """Bayesian p of one randomly chosen split per seeded consistent network (networks without loops skipped)."""
    spec = ModelSpec(effects=effects, d_prior_sd=100.0)     # random: the default half-normal(0.5) tau prior
    out = []
    for seed in range(n_networks):
        rng = np.random.default_rng(10_000 + seed)           # size and choice of split, independent of the data
        T = int(rng.integers(4, 7))
        S = int(rng.integers(T + 2, 2 * T + 3))
        net = Network.from_contrasts(synthetic_network(T, S, tau=0.0 if effects == "fixed" else 0.2, seed=seed,
                                                       share_three_arm=0.3))
        candidates = split_comparisons(net)
        if not candidates:
            continue
        sp = candidates[int(rng.integers(len(candidates)))]
        p = len(net.treatments) - 1
        c = np.zeros(p + 1)                                   # d_dir - (d_treatment - d_comparator)
        c[p] = 1.0
        for t, sign in ((sp.treatment, -1.0), (sp.comparator, 1.0)):
            if t != net.reference:
                c[net.treatments.index(t) - 1] += sign
        out.append(bayesian_p_value(fit_exact(net, spec, nodesplit_design(net, sp)), c))
    return np.array(out)


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_consistent_networks_are_flagged_at_most_at_the_nominal_rate(effects):
    """On consistent networks (4-6 treatments, 30% three-arm trials), p < 0.05 no more often than 5%.

    Splits within one network are correlated (in a single loop every split sees the same loop and has the same
    p), so one split per network is counted, chosen at random: the flags are then independent Bernoulli
    trials, and the bound is the one-sided 99% binomial limit 0.05 + 2.33 sqrt(0.05 x 0.95 / n). Fixed effect
    on tau = 0 data is exactly calibrated (the model is the data's: the inconsistency factor's GLS estimate is
    normal with exactly its posterior SD, so p is uniform); random effects on tau = 0.2 data, with tau
    integrated out, is expected at or below nominal. A one-sided p-value, or direct and indirect evidence
    sharing a trial, would show as about 10%, far above the bound.
    """
    p = one_split_p_values(effects, 250)
    n = len(p)
    assert n >= 240
    rate = float((p < 0.05).mean())
    assert rate <= 0.05 + 2.33 * np.sqrt(0.05 * 0.95 / n), (rate, n)


# ---- multi-arm trials: the split contrast alone is freed --------------------------------------------------------
def multi_arm_network() -> Network:
    """A three-arm trial reported against C, plus A-D and D-B: A-B is split, and the trial reports no A-B contrast."""
    return Network.from_contrasts(contrasts(("ABC", "C", 0.12, [("A", 0.20, 0.20), ("B", -0.30, 0.22)]),
                                            ("AD", "A", None, [("D", -0.10, 0.18)]),
                                            ("DB", "D", None, [("B", -0.60, 0.21)]),
                                            ("AC", "A", None, [("C", 0.05, 0.30)])), reference="A")


def rebased(net: Network):
    """Independent construction: the three-arm trial re-expressed against A (y' = M y, V' = M V M'), with design
    rows B vs A -> d_dir and C vs A -> d_C; the other studies keep their consistency rows."""
    X, y, V = net.design, net.y, net.covariance
    t = list(net.treatments[1:])               # basic parameters d_B, d_C, d_D
    rows = net.blocks[net.studies.index("ABC")]
    labels = [net.arms.loc[r, "treatment"] for r in rows]   # contrasts A vs C, B vs C
    i_a, i_b = labels.index("A"), labels.index("B")
    M = np.zeros((2, 2))
    M[0, i_b], M[0, i_a] = 1, -1              # B vs A = (B vs C) - (A vs C)
    M[1, i_a] = -1                            # C vs A = -(A vs C)
    y2, V2 = y.copy(), V.copy()
    y2[rows] = M @ y[rows]
    V2[np.ix_(rows, rows)] = M @ V[np.ix_(rows, rows)] @ M.T
    X2 = np.hstack([X, np.zeros((len(y), 1))])
    X2[rows[0]] = 0
    X2[rows[0], -1] = 1                       # B vs A: the direct parameter
    X2[rows[1]] = 0
    X2[rows[1], t.index("C")] = 1             # C vs A: d_C
    return X2, y2, V2, rows


def test_multi_arm_split_equals_gls_after_change_of_baseline():
    net = multi_arm_network()
    assert ("A", "B") in splits(net)
    X2, y2, V2, rows = rebased(net)
    Vinv = np.linalg.inv(V2)
    cov = np.linalg.inv(X2.T @ Vinv @ X2)
    mean = cov @ X2.T @ Vinv @ y2
    table = node_split(net, FE, PROBS)[0]
    # the direct row is the trial's own B vs A contrast (issue 15: a one-trial comparison shows that trial's estimate),
    # not the split model's d_dir, which the trial's correlated C arm and the A-C trial also inform
    assert row(table, "B", "A", "direct")["mean"] == pytest.approx(y2[rows[0]], abs=1e-7)
    assert row(table, "B", "A", "direct")["sd"] == pytest.approx(np.sqrt(V2[rows[0], rows[0]]), rel=1e-6)
    assert row(table, "B", "A", "indirect")["mean"] == pytest.approx(mean[0], abs=1e-7)
    c = np.array([-1.0, 0, 0, 1.0])            # d_dir - d_B
    assert row(table, "B", "A", "inconsistency")["sd"] == pytest.approx(np.sqrt(c @ cov @ c), rel=1e-6)


def test_multi_arm_split_random_effects_matches_brute_force():
    """tau on a fine grid, the parameters integrated out of the rebased data's marginal MVN (vague prior)."""
    net = multi_arm_network()
    sd = 100.0
    spec = ModelSpec(effects="random", d_prior_sd=sd, tau_prior=parse_tau_prior("half-normal(0.5)"))
    X2, y2, V2, rows = rebased(net)
    C = np.eye(len(y2))
    C[rows[0], rows[1]] = C[rows[1], rows[0]] = 0.5
    taus = np.linspace(1e-6, 3.0, 6001)
    logw, means = [], []
    for t in taus:
        S = V2 + t**2 * C
        logw.append(stats.multivariate_normal.logpdf(y2, np.zeros(len(y2)), S + sd**2 * X2 @ X2.T))
        Sinv = np.linalg.inv(S)
        P = X2.T @ Sinv @ X2 + np.eye(X2.shape[1]) / sd**2
        means.append(np.linalg.solve(P, X2.T @ Sinv @ y2))
    logw = np.array(logw) + spec.tau_prior.logpdf(taus)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    expected = w @ np.array(means)
    post = fit_exact(net, spec, nodesplit_design(net, next(s for s in split_comparisons(net) if s.treatment == "B")))
    got = (post.weight[:, None] * post.mean).sum(0)
    np.testing.assert_allclose(got, expected, atol=2e-4)
    assert post.tau_summary(PROBS)["mean"] == pytest.approx(w @ taus, abs=2e-3)


def test_design_argument_reproduces_the_consistency_fit():
    net = parkinsons()
    a, b = fit_exact(net, tsd2_spec("random")), fit_exact(net, tsd2_spec("random"), net.design)
    np.testing.assert_allclose(a.mean, b.mean)
    np.testing.assert_allclose(a.weight, b.weight)


# ---- unrelated mean effects ---------------------------------------------------------------------------------
def test_ume_design_uses_each_trials_baseline():
    net = design_only(("A", "B", "C"), ("B", "C"))
    X, pairs = ume_design(net)
    assert pairs == (("A", "B"), ("A", "C"), ("B", "C"))
    assert X.shape == (3, 3)
    np.testing.assert_array_equal(X[net.blocks[1]], [[0, 0, 1]])     # the B-C trial has its own parameter
    np.testing.assert_array_equal(X[net.blocks[0]], [[1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_ume_without_loops_is_the_consistency_model(effects):
    """A tree (with a three-arm trial) has as many compared pairs as basic parameters: UME is a reparameterisation."""
    net = Network.from_contrasts(contrasts(("ABC", "A", 0.1, [("B", -0.3, 0.2), ("C", 0.1, 0.25)]),
                                           ("CD", "C", None, [("D", 0.4, 0.3)]),
                                           ("BE", "B", None, [("E", -0.2, 0.15)]),
                                           ("BE2", "B", None, [("E", 0.3, 0.2)])), reference="A")
    spec = ModelSpec(effects=effects, d_prior_sd=VAGUE, tau_prior=parse_tau_prior("half-normal(0.5)"))
    X, _ = ume_design(net)
    cons, ume = fit_exact(net, spec), fit_exact(net, spec, X)
    fitted = lambda post, D: (post.weight[:, None] * (post.mean @ D.T)).sum(0)  # noqa: E731
    np.testing.assert_allclose(fitted(ume, X), fitted(cons, net.design), atol=1e-6)
    table = ume_comparison(net, spec, settings=exact_draws(seed=3, n=40000))[0].set_index("study")
    total = table.loc["TOTAL"]
    assert total["resdev_ume"] == pytest.approx(total["resdev_consistency"], abs=0.05)
    assert total["dic_ume"] == pytest.approx(total["dic_consistency"], abs=0.1)
    if effects == "fixed":   # closed form: pD = number of parameters under a vague prior
        assert total["leverage_ume"] == pytest.approx(4.0, abs=0.1)


def test_ume_on_parkinsons_has_one_parameter_per_pair():
    """TSD2 Example 7 has five compared pairs; fixed-effect pD is then 5 (closed form), against 4 for consistency."""
    table = ume_comparison(parkinsons(), tsd2_spec("fixed"), settings=exact_draws(seed=1, n=40000))[0].set_index("study")
    assert table.loc["TOTAL", "leverage_ume"] == pytest.approx(5.0, abs=0.1)
    assert table.loc["TOTAL", "leverage_consistency"] == pytest.approx(4.0, abs=0.1)
    assert table.loc["TOTAL", "n_datapoints"] == 8


# ---- nma run ---------------------------------------------------------------------------------------------
def run_exact(tmp_path, contrasts_csv, reference, effects="random", extra_model=""):
    from nma.app.run import run_config

    cfg = tmp_path / "a.toml"
    cfg.write_text(f'title = "t"\n[data]\ncontrasts = "{contrasts_csv}"\n[model]\neffects = "{effects}"\n'
                   f'reference = "{reference}"\nd_prior_sd = 100\ntau_prior = "uniform(0, 5)"\nengine = "exact"\n'
                   f'{extra_model}[sampler]\nseed = 7\n')
    return run_config(cfg, out=tmp_path / "out")


def test_run_writes_model_checks(tmp_path):
    from helpers import REF

    res = run_exact(tmp_path, REF / "tsd2_parkinsons.csv", "1")
    out = res.outdir
    split = pd.read_csv(out / "nodesplit.csv", dtype={"treatment": str, "comparator": str})
    assert set(zip(split.comparator, split.treatment)) == {("1", "3"), ("1", "4"), ("2", "4"), ("3", "4")}
    ume = pd.read_csv(out / "ume.csv", dtype={"study": str}).set_index("study")
    fit = pd.read_csv(out / "fit.csv", dtype={"study": str}).set_index("study")
    # same exact draws (analysis seed) for the consistency model as fit.csv
    np.testing.assert_allclose(ume.loc[fit.index, "resdev_consistency"], fit["resdev"], rtol=1e-10)
    sens = pd.read_csv(out / "sensitivity.csv")
    assert sens["prior"].iloc[0] == "uniform(0, 5)"
    for name in ("nodesplit", "devdev", "sensitivity"):
        assert (out / "figures" / f"{name}.png").is_file() and (out / "figures" / f"{name}.svg").is_file()
    html = (out / "report.html").read_text()
    assert "Node-splitting" in html and "Sensitivity to the heterogeneity prior" in html


def test_run_without_loops_says_so(tmp_path):
    csv = tmp_path / "tree.csv"
    contrasts(("S1", "A", None, [("B", -0.2, 0.2)]), ("S2", "A", None, [("C", 0.1, 0.3)])).to_csv(csv, index=False)
    res = run_exact(tmp_path, csv, "A", effects="fixed")
    out = res.outdir
    assert not (out / "nodesplit.csv").exists()
    assert not (out / "sensitivity.csv").exists()       # fixed-effect analysis: no tau to vary
    assert (out / "ume.csv").is_file()
    assert NO_LOOPS in (out / "warnings.txt").read_text()
    assert NO_LOOPS in (out / "report.html").read_text()


def test_run_with_nodesplit_switched_off(tmp_path):
    """[model] nodesplit = false: no node-split table or figure, UME still written, and the run says why."""
    from helpers import REF

    from nma.checks.model_checks import NODESPLIT_OFF

    out = run_exact(tmp_path, REF / "tsd2_parkinsons.csv", "1", extra_model="nodesplit = false\n").outdir
    assert not (out / "nodesplit.csv").exists()
    assert not (out / "figures" / "nodesplit.png").exists()
    assert (out / "ume.csv").is_file()
    assert NODESPLIT_OFF in (out / "warnings.txt").read_text()
    html = (out / "report.html").read_text()
    assert f"Node-splitting was not run: {NODESPLIT_OFF}" in html and NO_LOOPS not in html


def test_nodesplit_key_must_be_true_or_false(tmp_path):
    from nma.app.config import load_config
    from nma.errors import ConfigError

    cfg = tmp_path / "a.toml"
    base = 'title = "t"\n[data]\ncontrasts = "c.csv"\n[model]\n'
    cfg.write_text(base)
    assert load_config(cfg).nodesplit is True
    cfg.write_text(base + "nodesplit = false\n")
    assert load_config(cfg).nodesplit is False
    cfg.write_text(base + 'nodesplit = "no"\n')
    with pytest.raises(ConfigError, match="nodesplit must be true or false"):
        load_config(cfg)
