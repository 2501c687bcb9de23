"""Class effects on the exact engine (and PyMC): merged-node networks, brute-force 2-D quadrature, MCMC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nma.core.network import Network
from nma.errors import ModelSpecError
from nma.models.exact import fit_exact
from nma.models.priors import parse_tau_prior
from nma.models.regression import (
    Classes,
    Regression,
    class_effects,
    class_ranks,
    classes_from_table,
    fit_regression_exact,
    variance_parameters,
)
from nma.models.spec import ModelSpec

SD = 100.0
CLASS = {"A": "ctl", "A2": "ctl", "B1": "b", "B2": "b", "B3": "b", "C1": "c", "C2": "c"}
#: Trials (arms, baseline first); no trial compares two treatments of one class, so merging classes keeps every row.
TRIALS = [("A", "B1"), ("A", "B2"), ("A", "C1"), ("B1", "C2"), ("A", "C2"), ("B2", "C1"), ("A", "B1", "C1"),
          ("A2", "B1"), ("A", "B3"), ("A2", "C2"), ("A", "B2"), ("C1", "B3")]


def two_class_table(seed: int, tau: float = 0.15) -> pd.DataFrame:
    """Class b around -0.5, class c around 0.3 (within-class SD 0.3); A2 at 0.1; trial effects add N(0, tau^2)."""
    rng = np.random.default_rng(seed)
    d = {"A": 0.0, "A2": 0.1, "B1": -0.5 + 0.3 * rng.normal(), "B2": -0.5 + 0.3 * rng.normal(),
         "B3": -0.5 + 0.3 * rng.normal(), "C1": 0.3 + 0.3 * rng.normal(), "C2": 0.3 + 0.3 * rng.normal()}
    rows = []
    for i, arms in enumerate(TRIALS):
        study = f"S{i + 1:02d}"
        k = len(arms) - 1
        se = rng.uniform(0.1, 0.25, k)
        ref_se = 0.6 * se.min() if k > 1 else np.nan
        V = np.diag(se**2) + (ref_se**2 * (1 - np.eye(k)) if k > 1 else 0)
        C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
        mean = np.array([d[a] - d[arms[0]] for a in arms[1:]])
        y = mean + rng.multivariate_normal(np.zeros(k), tau**2 * C + V)
        rows.append({"study": study, "treatment": arms[0], "y": np.nan, "se": ref_se})
        rows += [{"study": study, "treatment": a, "y": y[j], "se": se[j]} for j, a in enumerate(arms[1:])]
    return pd.DataFrame(rows)


def merged(table: pd.DataFrame) -> Network:
    """Each class one node (the reference's class is the reference A)."""
    node = {t: ("A" if c == "ctl" else c) for t, c in CLASS.items()}
    return Network.from_contrasts(table.assign(treatment=table["treatment"].map(node)), reference="A")


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_common_class_effects_equal_the_merged_network(effects):
    """Common class effects are the network in which each class is one node, to 1e-8 (means, covariances, tau)."""
    table = two_class_table(1)
    spec = ModelSpec(effects=effects, d_prior_sd=SD)
    post = fit_regression_exact(Network.from_contrasts(table, reference="A"), spec,
                                classes=Classes(CLASS, effects="common"))
    ref = fit_exact(merged(table), spec)
    i = [post.parameters.index(f"class_mean[{c}]") for c in ref.treatments[1:]]
    np.testing.assert_allclose(post.theta.weight, ref.weight, atol=1e-8)
    np.testing.assert_allclose(post.theta.tau, ref.tau, atol=1e-8)
    np.testing.assert_allclose(post.theta.mean[:, i], ref.mean, atol=1e-8)
    np.testing.assert_allclose(post.theta.cov[:, i][:, :, i], ref.cov, atol=1e-8)
    tab = class_effects(post).set_index("parameter")
    assert tab.loc["d[A2]", "mean"] == 0.0 and tab.loc["d[A2]", "sd"] < 1e-10          # the reference's class is 0
    np.testing.assert_allclose(tab.loc["d[B2]", ["mean", "sd"]], tab.loc["class_mean[b]", ["mean", "sd"]], atol=1e-12)


def brute_force_exchangeable(net: Network, post, n: int = 161):
    """(tau, class SD) on a uniform grid with their prior densities; theta integrated out of y's marginal MVN,
    y ~ N(0, V + tau^2 C + X (s^2 A0 A0' + sigma^2 A1 A1') X'). Returns E[class means], E[tau], E[sigma]."""
    m = post.model
    X, y, V, C = m.X, net.y, net.covariance, net.multi_arm_correlation
    prior = parse_tau_prior("half-normal(0.5)")
    taus = np.linspace(1e-6, 2.0, n)
    sigmas = np.linspace(1e-6, 2.5, n)
    cm = m.index("class_mean")
    logp, cond = [], []
    for t in taus:
        for s in sigmas:
            S_theta = SD**2 * m.A0 @ m.A0.T + s**2 * m.A1 @ m.A1.T
            M = V + t**2 * C + X @ S_theta @ X.T
            logp.append(stats.multivariate_normal.logpdf(y, np.zeros(len(y)), M) + prior.logpdf(t) + prior.logpdf(s))
            cond.append((S_theta @ X.T @ np.linalg.solve(M, y))[cm])
    logp = np.array(logp)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    T, S = np.meshgrid(taus, sigmas, indexing="ij")
    return w @ np.array(cond), float(w @ T.ravel()), float(w @ S.ravel())


def test_exchangeable_classes_match_brute_force_2d_quadrature():
    """The exact engine's (tau, class SD) quadrature against an independent dense-grid integration, to 2e-3
    (the brute-force grid's spacing is 0.0125 in tau and 0.016 in sigma; its error is below 1e-3 here)."""
    table = two_class_table(2)
    net = Network.from_contrasts(table, reference="A")
    spec = ModelSpec(effects="random", d_prior_sd=SD, tau_prior=parse_tau_prior("half-normal(0.5)"))
    post = fit_regression_exact(net, spec, classes=Classes(CLASS, effects="exchangeable", sd_prior="half-normal(0.5)"))
    means, e_tau, e_sigma = brute_force_exchangeable(net, post)
    tab = class_effects(post).set_index("parameter")
    np.testing.assert_allclose(tab.loc[["class_mean[b]", "class_mean[c]"], "mean"], means, atol=2e-3)
    var = variance_parameters(post).set_index("parameter")
    assert var.loc["tau", "mean"] == pytest.approx(e_tau, abs=2e-3)
    assert var.loc["class_sd", "mean"] == pytest.approx(e_sigma, abs=2e-3)


def test_independent_classes_are_the_unadjusted_model_and_singletons_have_no_deviation():
    table = two_class_table(3)
    net = Network.from_contrasts(table, reference="A")
    spec = ModelSpec(effects="random", d_prior_sd=SD)
    ind = fit_regression_exact(net, spec, classes=Classes(CLASS, effects="independent"))
    base = fit_exact(net, spec)
    np.testing.assert_allclose(ind.theta.mean, base.mean, atol=1e-10)
    one = {t: t for t in CLASS}   # every treatment its own class: exchangeable = independent, no class SD
    post = fit_regression_exact(net, spec, classes=Classes(one, effects="exchangeable"))
    assert post.model.sigma_prior is None
    d = [post.parameters.index(f"d[{t}]") for t in net.treatments[1:]]
    np.testing.assert_allclose(post.theta.mean[:, d], base.mean, atol=1e-10)


def test_class_ranks_and_missing_classes():
    table = two_class_table(4)
    net = Network.from_contrasts(table, reference="A")
    post = fit_regression_exact(net, ModelSpec(effects="fixed", d_prior_sd=SD), classes=Classes(CLASS, effects="common"))
    r = class_ranks(post, n=4000, seed=2).set_index("treatment")
    assert list(r.index) == ["ctl", "b", "c"]
    np.testing.assert_allclose(r["p_rank_1"].sum(), 1.0)
    with pytest.raises(ModelSpecError, match="no class for treatment.*C2.*Fix:"):
        fit_regression_exact(net, ModelSpec(effects="fixed"), classes=Classes({k: v for k, v in CLASS.items() if k != "C2"}))
    with pytest.raises(ModelSpecError, match="two SDs.*Fix:"):
        fit_regression_exact(net, ModelSpec(), Regression("x", centre=0, coefficients="exchangeable"),
                             Classes(CLASS), values={s: 1.0 for s in net.studies})


def test_classes_from_the_treatments_table():
    """data/treatments.csv has a `mechanism` column (antibody, tki, adc, ... and combinations)."""
    from pathlib import Path

    table = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "treatments.csv")
    classes = classes_from_table(table)
    assert classes.mapping["ptd"] == "antibody"
    with pytest.raises(ModelSpecError, match="no column 'class'.*Fix:"):
        classes_from_table(table, column="class")


@pytest.mark.slow
def test_exchangeable_classes_exact_agrees_with_mcmc():
    """PyMC NUTS (4 chains x 1000) on the exchangeable class model agrees with the 2-D quadrature within 4 MCSE
    for every class mean, treatment effect, tau and the class SD."""
    import arviz as az

    from nma.models.regression_pymc import build_regression_model
    from nma.models.sampler import SamplerConfig, diagnostics, gate, sample

    table = two_class_table(5)
    net = Network.from_contrasts(table, reference="A")
    spec = ModelSpec(effects="random", d_prior_sd=10.0)
    classes = Classes(CLASS, effects="exchangeable")
    post = fit_regression_exact(net, spec, classes=classes)
    idata = sample(build_regression_model(net, spec, classes=classes), SamplerConfig(seed=3, chains=4, draws=1000, tune=1000))
    table_d, div = diagnostics(idata, ["theta", "tau", "class_sd"])
    assert gate(table_d, div) == [], table_d
    th = idata["posterior"]["theta"]
    exact = post.theta.summarise(np.eye(len(post.parameters)), ())["mean"]
    mcse = az.mcse(idata, var_names=["theta"])["theta"].to_numpy()
    mean = th.mean(("chain", "draw")).to_numpy()
    keep = mcse > 0                                  # the reference class's fixed zeros have no Monte Carlo error
    assert np.all(np.abs(mean - exact)[keep] < 4 * mcse[keep]), (mean, exact, mcse)
    var = variance_parameters(post).set_index("parameter")
    for name in ("tau", "class_sd"):
        m = float(idata["posterior"][name].mean())
        e = float(az.mcse(idata, var_names=[name])[name])
        assert abs(m - var.loc[name, "mean"]) < 4 * e, (name, m, var.loc[name, "mean"], e)


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_pymc_conditional_theta_is_the_exact_conditional_mean(effects):
    """No sampling: at z = 0 the PyMC model's theta is E[theta | tau, class SD, y], which the exact engine's
    conditional gives through the design (A0 + sigma/s A1); and its log density is finite with a finite gradient."""
    from nma.models.exact import _conditional
    from nma.models.regression_pymc import build_regression_model

    net = Network.from_contrasts(two_class_table(6), reference="A")
    spec = ModelSpec(effects=effects, d_prior_sd=10.0)
    classes = Classes(CLASS, effects="exchangeable")
    model = build_regression_model(net, spec, classes=classes)
    point = model.initial_point()
    point["class_sd_log__"] = np.log(0.3)
    if effects == "random":
        point["tau_log__"] = np.log(0.2)
    import pymc as pm

    fn = pm.compile(model.value_vars, model.replace_rvs_by_values([model["theta"]])[0])
    theta = fn(*(point[v.name] for v in model.value_vars))
    lm = fit_regression_exact(net, spec, classes=classes).model
    tau = np.array([0.2 if effects == "random" else 0.0])
    mean, _, _ = _conditional(net, spec, tau, lm.design_at(0.3, 10.0))
    np.testing.assert_allclose(theta, (lm.A0 + 0.03 * lm.A1) @ mean[0], atol=1e-8)
    assert np.isfinite(model.compile_logp()(point))
    assert np.all(np.isfinite(model.compile_dlogp()(point)))
