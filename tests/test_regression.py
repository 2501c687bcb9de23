"""Network meta-regression's exact engine against independent answers: GLS, scipy quadrature, coverage, pD."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from nma.core.network import Network
from nma.core.synthetic import synthetic_network
from nma.errors import ModelSpecError, ModelWarning, NetworkDataError, NMAError
from nma.models.priors import parse_tau_prior
from nma.models.regression import notes as nma_notes
from nma.models.regression import (
    Regression,
    coefficients,
    compare_unadjusted,
    dic,
    effects_at,
    fit_regression_exact,
    variance_parameters,
)
from nma.models.spec import ModelSpec

PROBS = (0.025, 0.5, 0.975)
SD = 100.0
FE = ModelSpec(effects="fixed", d_prior_sd=SD)


def network_with_modifier(seed: int, beta: float, tau: float = 0.0, T: int = 5, S: int = 16):
    """A synthetic network whose effects versus the reference shift by beta per unit of a study covariate x.

    x ~ U(0, 2) per study; the contrast t vs b gains beta (x - 1) (1[t != ref] - 1[b != ref]), the shared-
    coefficient model with centre 1. Returns the network and the values."""
    table = synthetic_network(T, S, tau=tau, seed=seed, share_three_arm=0.2)
    rng = np.random.default_rng(50_000 + seed)
    studies = list(pd.unique(table["study"]))
    x = dict(zip(studies, rng.uniform(0.0, 2.0, len(studies))))
    ref = "T01"
    base = table[table["y"].isna()].set_index("study")["treatment"]
    shift = [(beta * (x[s] - 1.0) * ((t != ref) - (base[s] != ref))) if not np.isnan(y) else 0.0
             for s, t, y in table[["study", "treatment", "y"]].itertuples(index=False)]
    table = table.assign(y=table["y"] + np.array(shift))
    return Network.from_contrasts(table, reference=ref), x


def shared_design(net: Network, x: dict, centre: float) -> np.ndarray:
    """Independent construction of the shared-coefficient design [D, b], b = (x - c)(1[t != ref] - 1[b != ref])."""
    arms = net.arms
    col = {t: i for i, t in enumerate(net.treatments[1:])}
    X = np.zeros((len(arms), len(col) + 1))
    for r, (s, t, b) in enumerate(arms[["study", "treatment", "baseline"]].itertuples(index=False)):
        for tr, sign in ((t, 1.0), (b, -1.0)):
            if tr in col:
                X[r, col[tr]] += sign
                X[r, -1] += sign * (x[s] - centre)
    return X


def names(net):
    return [f"d[{t}]" for t in net.treatments[1:]] + ["B[x]"]


def test_fixed_effect_shared_regression_is_gls():
    """Fixed effect with a covariate: the posterior is the conjugate normal (GLS with the N(0, SD^2) prior), to 1e-8."""
    net, x = network_with_modifier(3, beta=0.4)
    X, y, Vinv = shared_design(net, x, 0.7), net.y, np.linalg.inv(net.covariance)
    precision = X.T @ Vinv @ X + np.eye(X.shape[1]) / SD**2
    mean = np.linalg.solve(precision, X.T @ Vinv @ y)
    cov = np.linalg.inv(precision)
    post = fit_regression_exact(net, FE, Regression("x", centre=0.7), values=x)
    i = [post.parameters.index(n) for n in names(net)]
    np.testing.assert_allclose(post.theta.mean[0][i], mean, rtol=0, atol=1e-8)
    np.testing.assert_allclose(post.theta.cov[0][np.ix_(i, i)], cov, rtol=0, atol=1e-8)
    s = coefficients(post).set_index("parameter").loc["B[x]"]
    assert s["sd"] == pytest.approx(np.sqrt(cov[-1, -1]), abs=1e-8)
    assert s["lower"] == pytest.approx(mean[-1] - 1.959963984540054 * np.sqrt(cov[-1, -1]), abs=1e-8)


def test_effects_at_covariate_values_are_d_plus_beta_x():
    """Under fixed effect the effect at x is normal: d + B (x - c), its SD from the GLS covariance."""
    net, x = network_with_modifier(4, beta=0.4)
    X, y, Vinv = shared_design(net, x, 1.0), net.y, np.linalg.inv(net.covariance)
    cov = np.linalg.inv(X.T @ Vinv @ X + np.eye(X.shape[1]) / SD**2)
    mean = cov @ X.T @ Vinv @ y
    post = fit_regression_exact(net, FE, Regression("x", centre=1.0), values=x)
    with pytest.warns(ModelWarning, match="outside the trials' observed range"):
        tab = effects_at(post, [0.0, 2.0]).set_index(["covariate_value", "treatment", "comparator"])
    k = net.treatments.index("T03") - 1
    for at in (0.0, 2.0):
        c = np.zeros(X.shape[1])
        c[k], c[-1] = 1.0, at - 1.0
        r = tab.loc[(at, "T03", "T01")]
        assert r["mean"] == pytest.approx(c @ mean, abs=1e-8)
        assert r["sd"] == pytest.approx(np.sqrt(c @ cov @ c), abs=1e-8)
        assert tab.loc[(at, "T01", "T03"), "mean"] == pytest.approx(-c @ mean, abs=1e-8)


def test_random_effects_regression_matches_scipy_quadrature():
    """Random effects: E[B | y], E[tau | y] and P(tau < 0.3 | y) by scipy.integrate.quad over tau, the location
    parameters integrated out of the marginal MVN of y (prior covariance SD^2 X X'), agree to 1e-4."""
    net, x = network_with_modifier(5, beta=0.4, tau=0.2)
    spec = ModelSpec(effects="random", d_prior_sd=SD, tau_prior=parse_tau_prior("half-normal(0.5)"))
    X, y, V, C = shared_design(net, x, 1.0), net.y, net.covariance, net.multi_arm_correlation
    prior = spec.tau_prior

    def log_joint(t):
        return stats.multivariate_normal.logpdf(y, np.zeros(len(y)), V + t**2 * C + SD**2 * X @ X.T) + prior.logpdf(t)

    def cond_B(t):
        Wi = np.linalg.inv(V + t**2 * C)
        P = X.T @ Wi @ X + np.eye(X.shape[1]) / SD**2
        return np.linalg.solve(P, X.T @ Wi @ y)[-1]

    top = log_joint(0.3)
    f = lambda t: np.exp(log_joint(t) - top)   # noqa: E731
    kw = dict(limit=200, epsabs=0, epsrel=1e-10)
    Z = integrate.quad(f, 0, 5, points=[0.2, 0.5], **kw)[0]
    e_tau = integrate.quad(lambda t: t * f(t), 0, 5, points=[0.2, 0.5], **kw)[0] / Z
    e_B = integrate.quad(lambda t: cond_B(t) * f(t), 0, 5, points=[0.2, 0.5], **kw)[0] / Z
    p_low = integrate.quad(f, 0, 0.3, **kw)[0] / Z
    post = fit_regression_exact(net, spec, Regression("x", centre=1.0), values=x)
    assert coefficients(post).set_index("parameter").loc["B[x]", "mean"] == pytest.approx(e_B, abs=1e-4)
    assert variance_parameters(post).set_index("parameter").loc["tau", "mean"] == pytest.approx(e_tau, abs=1e-4)
    assert float(post.phi.weight[post.phi.tau < 0.3].sum()) == pytest.approx(p_low, abs=2e-3)  # grid-cell resolution


@pytest.mark.parametrize("effects", ["fixed", "random"])
def test_shared_regression_recovers_the_true_beta(effects):
    """Calibration: on seeded networks with a true shared beta = 0.5, the 95% CrI covers it at the nominal rate.

    Fixed effect on tau = 0 data is the data-generating model with a vague prior: coverage is 95% exactly, and
    the count of covered seeds is binomial(n, 0.95), so the two-sided 99.9% binomial limits bound it. Random
    effects on tau = 0.2 data integrates tau under its prior: coverage at or above nominal, lower bound only.
    """
    n = 200 if effects == "fixed" else 80
    spec = FE if effects == "fixed" else ModelSpec(effects="random", d_prior_sd=SD)
    covered = 0
    for seed in range(n):
        net, x = network_with_modifier(seed, beta=0.5, tau=0.0 if effects == "fixed" else 0.2)
        b = coefficients(fit_regression_exact(net, spec, Regression("x", centre=1.0), values=x)).set_index("parameter").loc["B[x]"]
        covered += b["lower"] <= 0.5 <= b["upper"]
    lo, hi = stats.binom.ppf([0.0005, 0.9995], n, 0.95)
    assert covered >= lo, (covered, n)
    if effects == "fixed":
        assert covered <= hi, (covered, n)


def test_unrelated_coefficients_with_one_value_per_pair():
    """One covariate value per treatment pair: unrelated betas are the pair's own effect modification.

    On a tree (no loops) they are confounded with d: the fitted contrasts are the unadjusted model's and pD is
    unchanged (T - 1). With loops, pD is the rank of [D, diag(x) D] (fixed effect, vague prior: the hat matrix's
    trace), i.e. the unadjusted T - 1 plus the extra identified parameters. pD from draws has Monte Carlo SD
    sqrt(2 pD / n); the tolerance is 4 of them."""
    vague = ModelSpec(effects="fixed", d_prior_sd=1e4)
    for T, S, seed in ((5, 4, 1), (5, 14, 2)):
        table = synthetic_network(T, S, tau=0.0, seed=seed, share_three_arm=0.0)
        net = Network.from_contrasts(table, reference="T01")
        pair_x = {}
        x = {}
        rng = np.random.default_rng(seed)
        for s, g in table.groupby("study", sort=False):
            pair = tuple(sorted(g["treatment"]))
            x[s] = pair_x.setdefault(pair, float(rng.uniform(-1, 1)))
        post = fit_regression_exact(net, vague, Regression("x", centre=0.0, coefficients="unrelated"), values=x)
        base = fit_regression_exact(net, vague)
        row_x = np.array([x[s] for s in net.arms["study"]])
        rank = np.linalg.matrix_rank(np.hstack([net.design, net.design * row_x[:, None]]))
        fit_r, fit_b = dic(post, n=20_000), dic(base, n=20_000)
        tol = 4 * np.sqrt(2 * rank / 20_000)
        assert fit_r["pD"] == pytest.approx(rank, abs=tol)
        assert fit_b["pD"] == pytest.approx(T - 1, abs=4 * np.sqrt(2 * (T - 1) / 20_000))
        if S == T - 1:   # a tree: the same fit
            assert rank == T - 1
            fitted_r = post.model.X @ post.theta.mean[0]
            fitted_b = net.design @ base.theta.mean[0][: T - 1]
            np.testing.assert_allclose(fitted_r, fitted_b, atol=1e-6)
        else:
            assert rank > T - 1


def test_categorical_covariate_equals_its_indicator():
    """A two-level category is the 0/1 indicator of its non-reference level, centred at 0."""
    net, x = network_with_modifier(6, beta=0.4, tau=0.2)
    cat = {s: ("high" if v > 1 else "low") for s, v in x.items()}
    ind = {s: float(v > 1) for s, v in x.items()}
    spec = ModelSpec(effects="random", d_prior_sd=SD)
    a = coefficients(fit_regression_exact(net, spec, Regression("x", reference_level="low"), values=cat))
    b = coefficients(fit_regression_exact(net, spec, Regression("x", centre=0.0), values=ind))
    np.testing.assert_allclose(a[["mean", "sd", "lower", "upper"]], b[["mean", "sd", "lower", "upper"]], atol=1e-10)
    assert a["covariate"].iloc[0] == "x=high"


def test_exchangeable_coefficients_with_a_tiny_sd_are_shared():
    """Invariant: with the coefficient SD held below 1e-6 the exchangeable betas are the shared beta."""
    net, x = network_with_modifier(7, beta=0.4)
    shared = coefficients(fit_regression_exact(net, FE, Regression("x", centre=1.0), values=x))
    tiny = coefficients(fit_regression_exact(net, FE, Regression("x", centre=1.0, coefficients="exchangeable",
                                                                 sd_prior="uniform(0, 1e-6)"), values=x))
    np.testing.assert_allclose(tiny.query("kind == 'beta'")["mean"], shared.query("kind == 'beta'")["mean"], atol=1e-5)
    np.testing.assert_allclose(tiny.query("kind == 'beta'")["sd"], shared.query("kind == 'beta'")["sd"], atol=1e-5)


def test_dic_and_tau_with_and_without_the_covariate():
    """A strong modifier (beta = 1.5 on tau = 0.05 data): adjusting lowers tau and DIC; both rows are numbers."""
    net, x = network_with_modifier(8, beta=1.5, tau=0.05, S=20)
    spec = ModelSpec(effects="random", d_prior_sd=SD)
    tab = compare_unadjusted(fit_regression_exact(net, spec, Regression("x", centre=1.0), values=x)).set_index("model")
    assert tab.loc["adjusted", "tau_median"] < tab.loc["unadjusted", "tau_median"]
    assert tab.loc["adjusted", "DIC"] < tab.loc["unadjusted", "DIC"] - 5
    assert tab.loc["adjusted", "n_datapoints"] == tab.loc["unadjusted", "n_datapoints"] == len(net.y)


def test_missing_covariate_values_name_the_trials():
    net, x = network_with_modifier(1, beta=0.0)
    gone = list(net.studies[:2])
    partial = {s: v for s, v in x.items() if s not in gone}
    partial[net.studies[2]] = float("nan")
    with pytest.raises(NetworkDataError) as err:
        fit_regression_exact(net, FE, Regression("x"), values=partial)
    msg = str(err.value)
    assert all(s in msg for s in gone + [net.studies[2]]) and "Fix:" in msg and "3 trial(s)" in msg


@pytest.mark.parametrize("kwargs, key", [({"coefficients": "common"}, "coefficients="),
                                         ({"centre": float("inf")}, "centre="),
                                         ({"sd_prior": "normal(1)"}, "sd_prior=")])
def test_bad_regression_specs_name_the_argument(kwargs, key):
    with pytest.raises(ModelSpecError) as err:
        Regression("x", **kwargs)
    assert key in str(err.value) and "Fix:" in str(err.value)
    assert isinstance(err.value, NMAError)


def test_by_class_needs_classes():
    net, x = network_with_modifier(1, beta=0.0)
    with pytest.raises(ModelSpecError, match=r"by_class=True\) needs classes.*Fix:"):
        fit_regression_exact(net, FE, Regression("x", by_class=True), values=x)


@pytest.mark.slow
@pytest.mark.parametrize("coefficients", ["shared", pytest.param("exchangeable", marks=pytest.mark.validation)])
def test_pymc_regression_agrees_with_the_exact_engine(coefficients):
    """NUTS (4 chains x 1000) on the contrast-level meta-regression agrees with the exact posterior within 4 MCSE
    (every d, beta and their mean, tau, and the coefficient SD when exchangeable)."""
    import arviz as az

    from nma.models.regression_pymc import build_regression_model
    from nma.models.sampler import SamplerConfig, diagnostics, gate, sample

    net, x = network_with_modifier(9, beta=0.4, tau=0.2)
    spec = ModelSpec(effects="random", d_prior_sd=10.0)
    reg = Regression("x", centre=1.0, coefficients=coefficients)
    post = fit_regression_exact(net, spec, reg, values=x)
    idata = sample(build_regression_model(net, spec, reg, values=x), SamplerConfig(seed=5, chains=4, draws=1000, tune=1000))
    names = ["theta", "tau"] + (["beta_sd"] if coefficients == "exchangeable" else [])
    table, div = diagnostics(idata, names)
    assert gate(table, div) == [], table
    exact = post.theta.summarise(np.eye(len(post.parameters)), ())["mean"]
    mean = idata["posterior"]["theta"].mean(("chain", "draw")).to_numpy()
    mcse = az.mcse(idata, var_names=["theta"])["theta"].to_numpy()
    assert np.all(np.abs(mean - exact) < 4 * mcse), (mean, exact, mcse)
    var = variance_parameters(post).set_index("parameter")
    for name in names[1:]:
        m = float(idata["posterior"][name].mean())
        e = float(az.mcse(idata, var_names=[name])[name])
        assert abs(m - var.loc[name, "mean"]) < 4 * e, (name, m, var.loc[name, "mean"], e)


def test_public_api_fit_regression():
    """nma.fit_regression with the keyword arguments of nma.fit equals the engine with the same ModelSpec."""
    import nma

    net, x = network_with_modifier(2, beta=0.4, tau=0.2)
    got = nma.fit_regression(net, nma.Regression("x", centre=1.0), values=x, d_prior_sd=SD, tau_prior="half-normal(0.5)")
    spec = ModelSpec(effects="random", d_prior_sd=SD, tau_prior=parse_tau_prior("half-normal(0.5)"))
    ref = fit_regression_exact(net, spec, Regression("x", centre=1.0), values=x)
    np.testing.assert_allclose(got.theta.mean, ref.theta.mean, atol=1e-12)
    assert any("ecological bias" in n for n in nma.regression_notes(got))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        effects_at(got, [1.0])          # inside the observed range: no warning


def test_an_unidentified_coefficient_is_said():
    """A covariate that differs only in the one trial of its comparison is confounded with that comparison's d:
    its posterior SD stays near the prior's and the notes say so."""
    net, x = network_with_modifier(3, beta=0.0, T=4, S=3)      # a tree: every comparison made by one trial
    only = {s: float(i == 0) for i, s in enumerate(net.studies)}
    post = fit_regression_exact(net, FE, Regression("x", centre=0.0), values=only)
    assert coefficients(post).set_index("parameter").loc["B[x]", "sd"] > 0.5 * SD
    assert any(n.startswith("Not identified by the data: B[x]") for n in nma_notes(post))
