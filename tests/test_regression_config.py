"""[model.regression] and [model.classes] through `nma run`: config errors before any fit, and the two HER2 analyses'
report sections against nma.fit_regression on the same network, plus invariants of the reported numbers.

Independent answers: the covariate values are typed here from the eligibility texts of data/characteristics.csv
(CEREBEL 'prior anthracyclines or taxanes' and Ma 2019 'and/or trastuzumab': 0; the other five name prior trastuzumab:
1), the classes from data/treatments.csv's mechanism column read here with csv; the posterior is a separate call of
the public nma.fit_regression. Invariants: a mean is linear, so mean(effect at 0) - mean(effect at 1) is -mean(beta)
exactly; the unadjusted row of the comparison is the main analysis's model (its tau is heterogeneity.csv's); SUCRAs
of T treatments sum to T / 2; a class with one member has its member's effect as its mean.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nma
from nma.app.assemble import analysis_network
from nma.app.config import load_config
from nma.app.run import prepare, run_config
from nma.errors import ConfigError, EvidenceWarning
from nma.models import regression as reg

ROOT = Path(__file__).resolve().parents[1]
REGRESSION = ROOT / "analyses" / "metastatic_pretreated_pfs_regression_anti_her2.toml"
CLASSES = ROOT / "analyses" / "metastatic_first_line_pfs_class_effects.toml"
#: Typed from the eligibility texts (line_of_therapy) of data/characteristics.csv, not computed by the package.
ANTI_HER2_REQUIRED = {"CEREBEL": 0.0, "DESTINY-Breast03": 1.0, "EMILIA": 1.0, "HER2CLIMB-02": 1.0,
                      "Ma 2019 phase II": 0.0, "PHOEBE": 1.0, "WJOG6110B/ELTOP": 1.0}
#: Both fits are exact (quadrature and exact draws with the same seed): the same numbers to rounding.
EXACT = 1e-9


def quick(path: Path, folder: Path, model_extra: str = "", replace: tuple[str, str] | None = None) -> Path:
    """The analysis's config, copied to `folder` with data/ named absolutely and the model checks off (fast)."""
    text = path.read_text()
    if replace is not None:
        text = text.replace(*replace)
    text = text.replace("[data]\n", f'[data]\nevidence = "{ROOT / "data"}"\n', 1)
    text = text.replace("[model]\n", f"[model]\nchecks = false\n{model_extra}", 1)
    out = folder / path.name
    out.write_text(text)
    return out


# ---- config errors, all before any fit ------------------------------------------------------------------------------
@pytest.fixture
def no_fit(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("fitted before the config was validated")

    monkeypatch.setattr("nma.app.run.fit", refuse)


def test_missing_covariate_values_name_the_trials_before_fitting(tmp_path, no_fit):
    cfg = quick(REGRESSION, tmp_path, replace=('covariate = "anti_her2_pretreatment_required"',
                                               'covariate = "brain_metastases_percent"'))
    with pytest.raises(ConfigError) as err:
        run_config(cfg, out=tmp_path / "out")
    text = str(err.value)
    assert '[model.regression] covariate = "brain_metastases_percent"' in text and "Fix:" in text
    named = text.split("network: ", 1)[1].split(". Trials", 1)[0].split(", ")
    # only HER2-CLIMB-02 reports brain metastases among these seven (data/characteristics.csv)
    assert named == ["CEREBEL", "DESTINY-Breast03", "EMILIA", "Ma 2019 phase II", "PHOEBE", "WJOG6110B/ELTOP"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("edit, expected", [
    (('covariate = "anti', 'covarite = "anti'), r"unknown key \[model.regression\] covarite; did you mean 'covariate'"),
    (('covariate = "anti_her2_pretreatment_required"\n', ''), r"\[model.regression\] needs 'covariate'"),
    (('coefficients = "shared"', 'coefficients = "sharde"'), r"coefficients = 'sharde': did you mean 'shared'"),
    (('coefficients = "shared"', 'coefficients = "shared"\nslope = 1'), r"unknown key \[model.regression\] slope"),
    (("at = [0, 1]", 'at = ["all"]'), r"at = \['all'\] holds the text 'all'"),
    (('covariate = "anti_her2_pretreatment_required"', 'covariate = "prior_trastuzumab"'),
     r"unknown covariate 'prior_trastuzumab'; did you mean 'prior_trastuzumab_percent'"),
    (("centre = 1", "centre = nan"), r"centre = nan: the centre must be a finite number"),
])
def test_regression_key_errors(tmp_path, no_fit, edit, expected):
    cfg = quick(REGRESSION, tmp_path, replace=edit)
    with pytest.raises(ConfigError, match=expected):
        prepare(load_config(cfg), "exact")


@pytest.mark.parametrize("edit, expected", [
    (('column = "mechanism"', 'column = "mechanism"\nmapping = {ptd = "antibody"}'), "exactly one of 'column'"),
    (('column = "mechanism"', 'column = "mechansim"'), "did you mean 'mechanism'"),
    (('model = "exchangeable"', 'model = "exchangable"'), "did you mean 'exchangeable'"),
    (('column = "mechanism"', 'mapping = {pt_taxane = "antibody", t_taxane = "antibody"}'),
     r"no class for treatment\(s\) pyro_td, tdm1, tdm1_p, tdxd_p in \[model.classes.mapping\]"),
])
def test_classes_key_errors(tmp_path, no_fit, edit, expected):
    cfg = quick(CLASSES, tmp_path, replace=edit)
    with pytest.raises(ConfigError, match=expected):
        prepare(load_config(cfg), "exact")


def test_derived_covariate_follows_the_typed_eligibility():
    from nma.evidence.characteristics import covariate_values

    values, source = covariate_values(ROOT / "data", list(ANTI_HER2_REQUIRED), "anti_her2_pretreatment_required")
    assert values == ANTI_HER2_REQUIRED and "derived by code from line_of_therapy" in source


# ---- the two HER2 analyses ------------------------------------------------------------------------------------------
#: Only this extension's sections: the others (their own tests) do not slow these runs or fail them.
OURS = ("nma.reporting.section_regression:section", "nma.reporting.section_regression:class_section")


def _run(path: Path, folder: Path) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("nma.reporting.sections.PRODUCERS", OURS)
        run_config(quick(path, folder), out=folder / "out")
    return folder / "out"


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    return _run(REGRESSION, tmp_path_factory.mktemp("regression"))


@pytest.fixture(scope="module")
def classes_run(tmp_path_factory):
    return _run(CLASSES, tmp_path_factory.mktemp("classes"))


def _network(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)     # MARIANNE's control-arm variance (said in the report)
        return analysis_network(load_config(path)).network


@pytest.mark.slow   # one whole `nma run` per analysis (about 6 to 12 s), shared by two tests
def test_regression_report_equals_fit_regression(regression_run):
    network = _network(REGRESSION)
    post = nma.fit_regression(network, nma.Regression("anti_her2_pretreatment_required", centre=1), values=ANTI_HER2_REQUIRED,
                              effects="random", tau_prior="half-normal(0.5)", d_prior_sd=10)
    coef = pd.read_csv(regression_run / "regression_coefficients.csv")
    ours = reg.coefficients(post)
    np.testing.assert_allclose(coef[["mean", "sd", "lower", "median", "upper"]], ours[["mean", "sd", "lower", "median",
                                                                                         "upper"]], rtol=EXACT, atol=EXACT)
    effects = pd.read_csv(regression_run / "regression_effects.csv")
    np.testing.assert_allclose(effects[["mean", "median", "lower", "upper"]],
                               reg.effects_at(post, [0, 1])[["mean", "median", "lower", "upper"]], rtol=EXACT, atol=EXACT)
    comp = pd.read_csv(regression_run / "regression_model_comparison.csv").set_index("model")
    theirs = reg.compare_unadjusted(post).set_index("model")
    np.testing.assert_allclose(comp.loc[["adjusted", "unadjusted"], ["DIC", "pD", "tau_median"]],
                               theirs.loc[["adjusted", "unadjusted"], ["DIC", "pD", "tau_median"]], rtol=EXACT)
    html = (regression_run / "report.html").read_text().replace("\xa0", " ")   # no-break spaces in cells
    assert 'id="meta-regression"' in html and "UNADJUSTED" in html
    b = ours[ours["kind"] == "beta_mean"].iloc[0]
    assert f"{b['median']:.3f} ({b['lower']:.3f} to {b['upper']:.3f})" in html
    assert (regression_run / "figures" / "regression_effect_vs_covariate.png").is_file()
    notes = (regression_run / "warnings.txt").read_text()
    assert "fewer than 10 per coefficient" in notes and "ecological bias" in notes


@pytest.mark.slow   # one whole `nma run` per analysis (about 6 to 12 s), shared by two tests
def test_regression_report_invariants(regression_run):
    coef = pd.read_csv(regression_run / "regression_coefficients.csv")
    shared = coef[coef["kind"] == "beta_mean"].iloc[0]
    betas = coef[coef["kind"] == "beta"]
    np.testing.assert_allclose(betas["mean"], shared["mean"], rtol=1e-12)   # shared: every treatment's beta is B
    effects = pd.read_csv(regression_run / "regression_effects.csv")
    at0 = effects[effects["covariate_value"] == 0].set_index(["treatment", "comparator"])["mean"]
    at1 = effects[effects["covariate_value"] == 1].set_index(["treatment", "comparator"])["mean"]
    diff = (at0 - at1.reindex(at0.index)).to_numpy()
    vs_ref = np.array([t != "l_cap" and c == "l_cap" for t, c in at0.index])
    np.testing.assert_allclose(diff[vs_ref], -shared["mean"], atol=1e-10)   # linear in x: effect(0) - effect(1) = -B
    np.testing.assert_allclose(diff[~vs_ref & np.array([t != "l_cap" for t, _ in at0.index])], 0, atol=1e-10)
    comp = pd.read_csv(regression_run / "regression_model_comparison.csv").set_index("model")
    het = pd.read_csv(regression_run / "heterogeneity.csv")
    assert comp.loc["unadjusted", "tau_median"] == pytest.approx(het.loc[0, "median"], rel=1e-9)
    fit = pd.read_csv(regression_run / "fit.csv")
    assert comp.loc["unadjusted", "resdev"] == pytest.approx(fit.loc[fit.study == "TOTAL", "resdev"].iloc[0], abs=0.1)
    centre = effects[(effects["covariate_value"] == 1) & (effects["comparator"] == "l_cap")]
    html = (regression_run / "report.html").read_text().replace("\xa0", " ")   # no-break spaces in cells
    for r in centre.itertuples():
        assert f"{np.exp(r.median):.2f} ({np.exp(r.lower):.2f} to {np.exp(r.upper):.2f})" in html


def _mechanism() -> dict[str, str]:
    with open(ROOT / "data" / "treatments.csv", newline="") as f:
        return {r["id"]: r["mechanism"] for r in csv.DictReader(f)}


@pytest.mark.slow   # one whole `nma run` per analysis (about 6 to 12 s), shared by two tests
def test_class_report_equals_fit_regression(classes_run):
    network = _network(CLASSES)
    mapping = {t: _mechanism()[t] for t in network.treatments}
    post = nma.fit_regression(network, classes=nma.Classes(mapping, effects="exchangeable"), effects="random",
                              tau_prior="half-normal(0.5)", d_prior_sd=10)
    table = pd.read_csv(classes_run / "class_effects.csv")
    ours = reg.class_effects(post)
    assert list(table["parameter"]) == list(ours["parameter"])
    np.testing.assert_allclose(table[["mean", "sd", "lower", "median", "upper"]],
                               ours[["mean", "sd", "lower", "median", "upper"]], rtol=EXACT, atol=EXACT)
    sd = pd.read_csv(classes_run / "class_variance.csv").set_index("parameter")
    np.testing.assert_allclose(sd.loc["class_sd", ["median", "lower", "upper"]],
                               reg.variance_parameters(post).set_index("parameter").loc["class_sd", ["median", "lower",
                                                                                                     "upper"]], rtol=EXACT)
    ranks = pd.read_csv(classes_run / "class_ranks.csv")
    np.testing.assert_allclose(ranks["sucra"], reg.class_ranks(post)["sucra"], rtol=EXACT)
    html = (classes_run / "report.html").read_text().replace("\xa0", " ")   # no-break spaces in cells
    assert 'id="class-effects"' in html and "What the classes changed" in html and "UNADJUSTED" in html
    r = sd.loc["class_sd"]
    assert f"median {r['median']:.3f} ({r['lower']:.3f} to {r['upper']:.3f})" in html


@pytest.mark.slow   # one whole `nma run` per analysis (about 6 to 12 s), shared by two tests
def test_class_report_invariants(classes_run):
    table = pd.read_csv(classes_run / "class_effects.csv")
    for cls, g in table.groupby("class"):
        members = g[g["kind"] == "d"]
        means = g[g["kind"] == "class_mean"]
        if len(members) == 1 and len(means):                     # one member: its effect is its class mean
            np.testing.assert_allclose(members[["mean", "median"]].to_numpy(), means[["mean", "median"]].to_numpy(),
                                       rtol=1e-12)
    tr = pd.read_csv(classes_run / "class_treatment_ranks.csv")
    assert tr["sucra"].sum() == pytest.approx(len(tr) / 2, abs=1e-9)     # SUCRAs of T treatments sum to T / 2
    cr = pd.read_csv(classes_run / "class_ranks.csv")
    assert cr["sucra"].sum() == pytest.approx(len(cr) / 2, abs=1e-9)
    p = cr[[c for c in cr.columns if c.startswith("p_rank_")]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-12)
    rel = pd.read_csv(classes_run / "relative_effects.csv")      # the main (unadjusted) table is unchanged by classes
    main = nma.fit(_network(CLASSES), effects="random", tau_prior="half-normal(0.5)", d_prior_sd=10, engine="exact",
                   seed=20240611).relative_effects()
    np.testing.assert_allclose(rel[["mean", "median", "lower", "upper"]], main[["mean", "median", "lower", "upper"]],
                               rtol=EXACT, atol=EXACT)
    html = (classes_run / "report.html").read_text().replace("\xa0", " ")   # no-break spaces in cells
    ref = rel[(rel.comparator == "pt_taxane") & (rel.treatment == "tdm1")].iloc[0]
    assert re.search(re.escape(f"{ref.exp_median:.2f} ({ref.exp_lower:.2f} to {ref.exp_upper:.2f})"), html)


# ---- a covariate from a column of the user's own CSV ------------------------------------------------------------------
USER_CSV = """study,treatment,y,se,latitude
S1,A,,,10
S1,B,-0.5,0.2,10
S2,A,,,30
S2,B,-0.2,0.25,
S3,A,,,50
S3,C,-0.3,0.2,50
S4,B,,,{s4}
S4,C,0.1,0.3,
"""
USER_CONFIG = """title = "user"
[data]
contrasts = "c.csv"
[model]
effects = "fixed"
reference = "A"
d_prior_sd = 10
checks = false
[model.regression]
covariate = "latitude"
[sampler]
seed = 1
"""


def test_user_csv_covariate_missing_value_names_the_study(tmp_path, no_fit):
    (tmp_path / "c.csv").write_text(USER_CSV.format(s4=""))
    (tmp_path / "a.toml").write_text(USER_CONFIG)
    with pytest.raises(ConfigError, match=r"no value for 1 trial\(s\) of the network: S4\. .*Fix: fill in the column "
                                          "latitude"):
        run_config(tmp_path / "a.toml", out=tmp_path / "out")


def test_user_csv_covariate_equals_the_closed_form(tmp_path):
    """Fixed effect, shared coefficient: the posterior of (d_B, d_C, B) is normal with precision X'V^-1 X + I / s^2
    and mean (X'V^-1 X + I / s^2)^-1 X'V^-1 y (GLS with the N(0, s^2) prior), computed here from the CSV's numbers;
    x is centred at the studies' mean, 27.5. Contrasts: S1, S2 B vs A; S3 C vs A; S4 C vs B, where a shared
    coefficient cancels."""
    (tmp_path / "c.csv").write_text(USER_CSV.format(s4="20"))
    (tmp_path / "a.toml").write_text(USER_CONFIG)
    run_config(tmp_path / "a.toml", out=tmp_path / "out")
    c = 27.5
    X = np.array([[1, 0, 10 - c], [1, 0, 30 - c], [0, 1, 50 - c], [-1, 1, 0]], float)
    y = np.array([-0.5, -0.2, -0.3, 0.1])
    W = np.diag(1 / np.array([0.2, 0.25, 0.2, 0.3]) ** 2)
    P = X.T @ W @ X + np.eye(3) / 10**2
    cov = np.linalg.inv(P)
    mean = cov @ X.T @ W @ y
    coef = pd.read_csv(tmp_path / "out" / "regression_coefficients.csv")
    b = coef[coef["kind"] == "beta_mean"].iloc[0]
    assert b["mean"] == pytest.approx(mean[2], abs=1e-10)
    assert b["sd"] == pytest.approx(np.sqrt(cov[2, 2]), abs=1e-10)
    effects = pd.read_csv(tmp_path / "out" / "regression_effects.csv")
    at = effects[(effects["comparator"] == "A") & (effects["treatment"] == "B")].set_index("covariate_value")
    for x in at.index:                                    # default at: the observed range, 10 and 50
        assert at.loc[x, "mean"] == pytest.approx(mean[0] + mean[2] * (x - c), abs=1e-10)
    assert sorted(at.index) == [10, 50]
    values = pd.read_csv(tmp_path / "out" / "regression_covariate.csv")
    assert dict(zip(values["study"], values["value"])) == {"S1": 10, "S2": 30, "S3": 50, "S4": 20}
