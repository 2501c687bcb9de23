"""The public API as a notebook uses it (only `import nma`), against answers computed independently here.

A made-up, non-HER2 network of four treatments and four trials (one three-arm), given as hazard ratios with 95%
CIs exactly as printed. The independent answers: the fixed-effect posterior in closed form (GLS with the normal
prior), and the random-effects posterior mean of each d by 1-D adaptive quadrature over tau (scipy.integrate.quad)
of the marginal likelihood y ~ N(0, V + tau^2 C + s^2 X X'), written from the model's definition, not with nma's code.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import nma

ROOT = Path(__file__).resolve().parents[1]
Z95 = stats.norm.ppf(0.975)
ROWS = [("ALPHA-1", "placebo", None, None, None, None), ("ALPHA-1", "drug_a", 0.72, 0.58, 0.89, None),
        ("BETA-2", "placebo", None, None, None, None), ("BETA-2", "drug_b", 0.81, 0.66, 0.99, None),
        ("GAMMA-3", "placebo", None, None, None, 210), ("GAMMA-3", "drug_a", 0.69, 0.55, 0.87, None),
        ("GAMMA-3", "drug_c", 0.60, 0.47, 0.77, None),
        ("DELTA-4", "drug_b", None, None, None, None), ("DELTA-4", "drug_c", 0.78, 0.62, 0.98, None)]
TRIALS = pd.DataFrame(ROWS, columns=["study", "treatment", "hr", "ci_lower", "ci_upper", "events"])
BASIC = ["drug_a", "drug_b", "drug_c"]      # versus placebo
PRIOR_SD = 10.0


def by_hand():
    """y, V, X and C of the network, from the printed numbers: se = (ln U - ln L) / (2 z), Cov = 1 / events."""
    y, se, X, study = [], [], [], []
    col = {t: i for i, t in enumerate(BASIC)}
    for s, g in TRIALS.groupby("study", sort=False):
        base = g["treatment"].iloc[0]
        for r in g.iloc[1:].itertuples(index=False):
            y.append(np.log(r.hr))
            se.append((np.log(r.ci_upper) - np.log(r.ci_lower)) / (2 * Z95))
            x = np.zeros(3)
            x[col[r.treatment]] += 1
            if base in col:
                x[col[base]] -= 1
            X.append(x)
            study.append(s)
    y, X, study = np.array(y), np.array(X), np.array(study)
    V = np.diag(np.square(se))
    C = np.eye(len(y))
    for i in range(len(y)):
        for j in range(len(y)):
            if i != j and study[i] == study[j]:
                V[i, j] = 1 / 210       # GAMMA-3's placebo arm: variance of its log hazard
                C[i, j] = 0.5
    return y, V, X, C


def fixed_effect_by_hand():
    y, V, X, _ = by_hand()
    P = X.T @ np.linalg.solve(V, X) + np.eye(3) / PRIOR_SD**2
    cov = np.linalg.inv(P)
    return cov @ X.T @ np.linalg.solve(V, y), np.sqrt(np.diag(cov))


def random_effects_mean_by_quadrature(tau_sd=0.5):
    """E[d | y] = int E[d | tau, y] p(tau | y) dtau, tau ~ half-normal(tau_sd), d ~ N(0, PRIOR_SD^2 I)."""
    y, V, X, C = by_hand()

    def pieces(tau):
        S = V + tau**2 * C + PRIOR_SD**2 * X @ X.T
        like = stats.multivariate_normal(np.zeros(len(y)), S).pdf(y) * 2 * stats.norm(0, tau_sd).pdf(tau)
        return like, PRIOR_SD**2 * X.T @ np.linalg.solve(S, y)

    norm = integrate.quad(lambda t: pieces(t)[0], 0, 10 * tau_sd, epsabs=0, epsrel=1e-10)[0]
    return np.array([integrate.quad(lambda t: pieces(t)[0] * pieces(t)[1][k], 0, 10 * tau_sd, epsabs=0,
                                    epsrel=1e-10)[0] / norm for k in range(3)])


@pytest.fixture(scope="module")
def net():
    return nma.Network.from_ratios(TRIALS, measure="HR", reference="placebo")


def versus_placebo(fit):
    return fit.relative_effects("placebo").set_index("treatment").loc[BASIC]


def test_exact_fixed_effect_is_the_closed_form(net):
    fit = nma.fit(net, effects="fixed", engine="exact", seed=1)
    mean, sd = fixed_effect_by_hand()
    rel = versus_placebo(fit)
    np.testing.assert_allclose(rel["mean"], mean, atol=1e-9)
    np.testing.assert_allclose(rel["sd"], sd, rtol=1e-9)
    np.testing.assert_allclose(rel["exp_median"], np.exp(mean), rtol=1e-8)      # normal: median = mean
    np.testing.assert_allclose(rel["exp_upper"], np.exp(mean + Z95 * sd), rtol=1e-8)


def test_exact_random_effects_means_match_quadrature(net):
    fit = nma.fit(net, effects="random", tau_prior="half-normal(0.5)", engine="exact", seed=1)
    np.testing.assert_allclose(versus_placebo(fit)["mean"], random_effects_mean_by_quadrature(), atol=2e-4)


@pytest.mark.slow
def test_mcmc_random_effects_means_match_quadrature_within_mcse(net):
    fit = nma.fit(net, effects="random", tau_prior="half-normal(0.5)", engine="mcmc", seed=3)
    assert fit.converged
    rel = versus_placebo(fit)
    diag = fit.posterior.diagnostics.set_index("parameter")
    mcse = diag.loc[[f"d[{t}]" for t in BASIC], "mcse_mean"].to_numpy()
    assert (np.abs(rel["mean"].to_numpy() - random_effects_mean_by_quadrature()) < 4 * mcse).all()


def test_results_tables_checks_and_figure(net):
    fit = nma.fit(net, effects="random", engine="exact", seed=1)
    ranks = fit.ranks().set_index("treatment")
    assert ranks["sucra"].sum() == pytest.approx(len(net.treatments) / 2)                  # invariant: sum = T / 2
    assert np.allclose(ranks[[f"p_rank_{k}" for k in range(1, 5)]].sum(axis=1), 1.0)
    league = fit.league_table().set_index(["treatment", "comparator"])
    ab = league.loc[("drug_a", "drug_b")]
    ba = league.loc[("drug_b", "drug_a")]
    assert ab["median"] == pytest.approx(1 / ba["median"], rel=1e-9)                        # antisymmetry, ratio scale
    assert ab["p_better"] + ba["p_better"] == pytest.approx(1.0)
    checks = fit.checks()
    split = checks.nodesplit.set_index(["treatment", "comparator", "estimate"])
    # the loop placebo - drug_b - drug_c: drug_c vs drug_b has direct (DELTA-4) and indirect evidence
    assert ("drug_c", "drug_b", "inconsistency") in split.index
    assert checks.ume is not None and checks.sensitivity is not None
    assert fit.idata.posterior["d"].dims == ("chain", "draw", "treatment")
    assert fit.idata.log_likelihood["y"].sizes["study"] == 4
    import matplotlib.figure

    fig = nma.plot_forest(fit)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.axes[0].get_xscale() == "log"


def test_nma_run_with_a_ratios_file_gives_the_same_numbers(net, tmp_path, monkeypatch):
    from nma.app.cli import main

    csv = tmp_path / "trials.csv"
    TRIALS.to_csv(csv, index=False)
    (tmp_path / "own.toml").write_text('title = "Own trials"\n[data]\nratios = "trials.csv"\nmeasure = "HR"\n'
                                       '[model]\nreference = "placebo"\neffects = "random"\ntau_prior = "half-normal(0.5)"\n'
                                       'd_prior_sd = 10\nengine = "exact"\n[sampler]\nseed = 1\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "own.toml", "--out", "outputs/own"]) == 0
    written = pd.read_csv(tmp_path / "outputs/own/relative_effects.csv")
    api = nma.fit(net, effects="random", tau_prior="half-normal(0.5)", engine="exact", seed=1).relative_effects()
    pd.testing.assert_frame_equal(written[api.columns], api, check_dtype=False, rtol=1e-12)


def test_the_readme_example_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    assert (tmp_path / "outputs/quickstart/report.html").is_file()
    rel = ns["fit"].relative_effects("placebo").set_index("treatment")
    np.testing.assert_allclose(rel.loc[BASIC, "mean"], random_effects_mean_by_quadrature(), atol=2e-4)


def test_evidence_selection_through_the_api_names_its_rows():
    """`load_evidence(...).select` is the selection `nma run` makes for the same [data] table: same network, same log."""
    from nma.app.assemble import analysis_network
    from nma.app.config import load_config

    cfg = load_config(ROOT / "analyses" / "metastatic_pretreated_os.toml")
    want = analysis_network(cfg)
    sel = cfg.selection
    net = nma.load_evidence(ROOT / "data").select(sel.setting, sel.outcome, population=sel.population,
                                                 include_trials=sel.include_trials, exclude_trials=sel.exclude_trials,
                                                 trials={t: vars(c) for t, c in sel.trials.items()},
                                                 reference=cfg.reference)
    assert net.treatments == want.network.treatments and net.selection_log == tuple(want.log)
    pd.testing.assert_frame_equal(net.contrasts, want.network.contrasts)


def test_report_options_from_python_are_checked_before_writing(net, tmp_path):
    from nma.analysis.save import ReportOptions

    fit = nma.fit(net, effects="fixed", engine="exact", seed=1)
    with pytest.raises(nma.NetworkDataError, match=r"forest_comparators=\.\.\.\) names 'drug_z'"):
        fit.save(tmp_path / "out", options=ReportOptions(forest_comparators=("drug_z",)))
    assert not (tmp_path / "out").exists()
