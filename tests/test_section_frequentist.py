"""The frequentist report section: written by Fit.save and `nma run` with the numbers of nma.frequentist and
design_by_treatment, in the report, the CSVs and the workbook; none for a binomial analysis."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import nma
from nma.checks.design_by_treatment import design_by_treatment
from nma.reporting import section_frequentist, sections

ROOT = Path(__file__).resolve().parents[1]
TABLE = pd.read_csv(ROOT / "tests" / "reference" / "frequentist_networks.csv", dtype={"study": str, "treatment": str})


def read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype={"treatment": str, "comparator": str, "design": str})


def assert_outputs_match(out: Path, net: nma.Network, method: str, lower_is_better: bool) -> None:
    freq = nma.frequentist(net, method, lower_is_better=lower_is_better)
    pd.testing.assert_frame_equal(read(out, "frequentist_relative_effects.csv"), freq.relative_effects(),
                                  check_exact=False, rtol=1e-12, atol=1e-14)
    het = read(out, "frequentist_heterogeneity.csv")
    np.testing.assert_allclose(het["estimate"], freq.heterogeneity()["estimate"], rtol=1e-12)
    p = read(out, "frequentist_pscores.csv").set_index("treatment")["pscore"]
    np.testing.assert_allclose(p[list(freq.treatments)], freq.pscores()["pscore"], rtol=1e-12)
    html = (out / "report.html").read_text()
    assert 'id="frequentist"' in html
    assert f"the {method} estimate is {np.sqrt(freq.tau2):.3f}" in html
    sheets = load_workbook(out / "league_table.xlsx").sheetnames
    assert {"Frequentist league", "Frequentist pairs", "Frequentist heterogeneity"} <= set(sheets)


@pytest.mark.slow
def test_fit_save_writes_the_frequentist_section(tmp_path):
    """TSD4 smoking as log odds ratios (contrast level), exact random-effects fit, saved through the public API."""
    net = nma.Network.from_contrasts(TABLE[TABLE["network"] == "smoking"].drop(columns="network"), measure="OR",
                                     reference="no_contact")
    fit = nma.fit(net, effects="random", engine="exact", tau_prior="uniform(0, 5)", lower_is_better=False, seed=1)
    out = tmp_path / "out"
    fit.save(out)
    assert "nma.reporting.section_frequentist:section" in sections.PRODUCERS
    assert_outputs_match(out, net, "REML", lower_is_better=False)
    tests = read(out, "frequentist_design_by_treatment.csv")
    np.testing.assert_allclose(tests["Q"], design_by_treatment(net, nma.frequentist(net).tau2).global_test["Q"],
                               rtol=1e-12)
    pairs = read(out, "frequentist_pairs.csv")
    bayes = read(out, "relative_effects.csv").set_index(["treatment", "comparator"])
    row = pairs.set_index(["treatment", "comparator"]).loc[("individual", "no_contact")]
    assert row["bayes_median"] == pytest.approx(bayes.loc[("individual", "no_contact"), "exp_median"], rel=1e-12)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::nma.errors.EvidenceWarning")   # MARIANNE's assumed control variance, as `nma run` says
def test_shipped_analysis_report_has_the_frequentist_section(tmp_path):
    """`nma run analyses/metastatic_first_line_pfs.toml`: the section's numbers are nma.frequentist's on the run's network."""
    from nma.app.assemble import analysis_network
    from nma.app.config import load_config
    from nma.app.run import run_config

    config = ROOT / "analyses" / "metastatic_first_line_pfs.toml"
    out = tmp_path / "metastatic_first_line_pfs"
    run_config(config, out=out)
    net = analysis_network(load_config(config)).network
    assert_outputs_match(out, net, "REML", lower_is_better=True)


def test_section_tables_and_words_from_deliverables():
    """section(d) on a run's deliverables (fast: no files): the API's tables, the REML tau and the Bayesian tau median
    in the paragraph, and a key warning when the random-effects global test rejects."""
    net = nma.Network.from_contrasts(TABLE[TABLE["network"] == "synthetic"].drop(columns="network"), measure="HR")
    fit = nma.fit(net, effects="random", engine="exact", tau_prior="half-normal(0.5)", seed=1)
    tau = fit.posterior.flat_tau()
    d = SimpleNamespace(cfg=SimpleNamespace(raw={}), network=net, spec=fit.spec, rel=fit.relative_effects(),
                        rank_table=fit.ranks(), tau_draws=tau, order=list(net.treatments))
    s = section_frequentist.section(d)
    freq = nma.frequentist(net, "REML")
    pd.testing.assert_frame_equal(s.tables["frequentist_relative_effects.csv"], freq.relative_effects())
    pd.testing.assert_frame_equal(s.tables["frequentist_heterogeneity.csv"], freq.heterogeneity())
    words = str(s.html)
    assert f"posterior median of tau is {np.median(tau):.3f}; the REML estimate is {np.sqrt(freq.tau2):.3f}" in words
    dbt = design_by_treatment(net, freq.tau2).test("random")
    assert (len(s.notes) == 1) == (dbt["p_value"] < 0.05)
    pairs = s.tables["frequentist_pairs.csv"]
    assert len(pairs) == len(net.treatments) * (len(net.treatments) - 1)
    np.testing.assert_allclose(pairs["difference_model_scale"],
                               np.log(pairs["bayes_median"]) - np.log(pairs["freq_estimate"]), atol=1e-12)


def test_config_block_sets_method_and_can_disable(tmp_path):
    """[frequentist] method = "DL" gives the DL companion; enabled = false no section; a wrong method is a ConfigError
    naming the key, raised when the config is read (before any fitting)."""
    from nma.app.config import load_config

    net = nma.Network.from_contrasts(TABLE[TABLE["network"] == "smoking"].drop(columns="network"), measure="OR",
                                     reference="no_contact")
    fit = nma.fit(net, effects="random", engine="exact", tau_prior="uniform(0, 5)", lower_is_better=False, seed=1)

    def d(block):
        return SimpleNamespace(cfg=SimpleNamespace(raw={"frequentist": block}), network=net, spec=fit.spec,
                               rel=fit.relative_effects(), rank_table=fit.ranks(), tau_draws=fit.posterior.flat_tau(),
                               order=list(net.treatments))

    s = section_frequentist.section(d({"method": "DL"}))
    het = s.tables["frequentist_heterogeneity.csv"].set_index("quantity")
    assert het.loc["tau2", "estimate"] == pytest.approx(nma.frequentist(net, "DL").tau2, rel=1e-12)
    assert section_frequentist.section(d({"enabled": False})) is None
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'[data]\ncontrasts = "{ROOT / "tests" / "reference" / "tsd2_parkinsons.csv"}"\n'
                   '[frequentist]\nmethod = "reml"\n')
    with pytest.raises(nma.ConfigError, match=r"\[frequentist\] method = 'reml'; did you mean 'REML'\?"):
        load_config(cfg)
    cfg.write_text('[frequentist]\nmethods = "REML"\n')
    with pytest.raises(nma.ConfigError, match="methods"):
        load_config(cfg)


def test_no_section_for_arm_level_data():
    arms = pd.DataFrame({"study": ["S1", "S1", "S2", "S2"], "treatment": ["A", "B", "A", "C"],
                         "r": [10, 15, 12, 20], "n": [100, 100, 100, 100]})
    d = SimpleNamespace(cfg=SimpleNamespace(raw={}), network=nma.ArmNetwork.from_arms(arms))
    assert section_frequentist.section(d) is None
