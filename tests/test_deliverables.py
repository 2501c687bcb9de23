"""League tables, rankings, MID and the report, on posteriors built by hand (no MCMC)."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from helpers import REF

from nma.posterior.summaries import (
    add_ratio_scale,
    cumulative_rank_probabilities,
    mid_probabilities,
    prob_better,
    ranks,
    relative_effects,
)
from nma.reporting import league

TREATMENTS = ("A", "B", "C")


@pytest.fixture
def draws():
    rng = np.random.default_rng(4)
    return np.column_stack([np.zeros(5000), rng.normal(-0.3, 0.2, 5000), rng.normal(0.1, 0.3, 5000)])


def test_league_cells_have_row_versus_column_orientation(draws):
    rel = add_ratio_scale(relative_effects(draws, TREATMENTS))
    long = league.league_long(rel, prob_better(draws), TREATMENTS)
    matrix = league.league_matrix(long, ["B", "A", "C"])
    # row B, column A: HR of B vs A = exp(median of d_B - d_A) = exp(median of d_B) since d_A = 0
    hr = np.exp(np.median(draws[:, 1]))
    lo, hi = np.exp(np.quantile(draws[:, 1], [0.025, 0.975]))
    assert matrix.loc["B", "A"].startswith(f"{hr:.2f} ({lo:.2f} to {hi:.2f})")
    assert f"P = {np.mean(draws[:, 1] < 0):.2f}" in matrix.loc["B", "A"]
    # the mirror cell is the reciprocal
    assert matrix.loc["A", "B"].startswith(f"{1 / hr:.2f} ({1 / hi:.2f} to {1 / lo:.2f})")
    assert matrix.loc["A", "A"] == "A"
    assert "ROW treatment versus the COLUMN treatment" in league.caption()


def test_rank_probabilities_sum_to_one_and_sucra_closed_form(draws):
    r = ranks(draws, TREATMENTS)
    p = r[[f"p_rank_{k}" for k in (1, 2, 3)]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=0), 1.0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    cum = cumulative_rank_probabilities(r)[["p_rank_le_1", "p_rank_le_2"]].to_numpy()
    # SUCRA = sum_{k<T} P(rank <= k) / (T - 1) (Salanti 2011)
    np.testing.assert_allclose(r["sucra"], cum.sum(axis=1) / 2)
    assert ((r["sucra"] >= 0) & (r["sucra"] <= 1)).all()
    assert ((r["sucra_lower"] <= r["sucra"]) & (r["sucra"] <= r["sucra_upper"])).all()


def test_mid_probability_by_hand(draws):
    mid = mid_probabilities(draws, TREATMENTS, 0.8).set_index(["treatment", "comparator"])
    # P(HR of B vs A < 0.8) = P(d_B < ln 0.8), and d_B ~ N(-0.3, 0.2^2): Phi((ln 0.8 + 0.3) / 0.2) = Phi(0.3843) = 0.6496
    assert mid.loc[("B", "A"), "p_beats_by_mid"] == pytest.approx(0.6496, abs=0.015)  # Monte Carlo, 5000 draws
    assert mid.loc[("B", "A"), "p_beats_by_mid"] == pytest.approx(np.mean(draws[:, 1] < np.log(0.8)))
    with pytest.raises(ValueError, match="ratio below 1"):
        mid_probabilities(draws, TREATMENTS, 1.2)


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.images = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "img":
            self.images.append(a.get("src", ""))


@pytest.fixture(scope="module")
def run_out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deliver")
    cfg = tmp / "a.toml"
    cfg.write_text(f'title = "TSD2 Example 7"\n[data]\ncontrasts = "{REF / "tsd2_parkinsons.csv"}"\n[model]\n'
                   'effects = "random"\nreference = "1"\nd_prior_sd = 100\ntau_prior = "uniform(0, 5)"\nengine = "exact"\n'
                   'mid = 0.8\nreference_median_months = 12.0\nleague_upper = "direct"\n[sampler]\nseed = 3\n')
    res = subprocess.run([sys.executable, "-m", "nma", "run", str(cfg), "--out", str(tmp / "out")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return tmp / "out"


def test_xlsx_values_and_caption(run_out):
    from openpyxl import load_workbook

    wb = load_workbook(run_out / "league_table.xlsx")
    ws = wb["League table"]
    assert "ROW treatment versus the COLUMN treatment" in ws["A1"].value
    assert ws.freeze_panes == "B4"
    header = [c.value for c in ws[3]][1:]
    rel = pd.read_csv(run_out / "relative_effects.csv", dtype={"treatment": str, "comparator": str})
    rows = {ws.cell(r, 1).value: r for r in range(4, 4 + len(header))}
    # "2" ranks first, so (row 1, column 2) lies below the diagonal: the network estimate of 1 vs 2
    r, c = rows["1"], header.index("2") + 2
    want = rel[(rel.treatment == "1") & (rel.comparator == "2")].iloc[0]
    assert ws.cell(r, c).value.startswith(f"{want.exp_median:.2f} ({want.exp_lower:.2f} to {want.exp_upper:.2f})")
    assert ws.cell(r, c).fill.fgColor.rgb.endswith("FFC7CE")  # CrI excludes 1 and favours the column treatment
    assert ws.cell(rows["2"], header.index("1") + 2).value.endswith("[direct]")  # above: direct evidence only


def test_report_has_every_section_and_image(run_out):
    p = _Parser()
    p.feed((run_out / "report.html").read_text())
    # issue 15: results first (question, headline table and forest, key warnings), then network and evidence
    for section in ("question", "results", "key-warnings", "network", "model", "league", "rankings", "warnings",
                    "appendix"):
        assert section in p.sections
    order = [p.sections.index(s) for s in ("question", "results", "key-warnings", "network")]
    assert order == sorted(order)
    assert len(p.images) >= 6 and all(src.startswith("data:image/png;base64,") for src in p.images)
    draws = pd.read_csv(run_out / "draws.csv")
    assert list(draws.columns) == ["chain", "draw", "d[2]", "d[3]", "d[4]", "d[5]", "tau"]
    assert re.search(r"p_beats_by_mid", (run_out / "mid.csv").read_text())
    assert "absolute" in p.sections


def test_absolute_effects_are_reference_median_over_hr(run_out):
    ab = pd.read_csv(run_out / "absolute_effects.csv", dtype={"treatment": str}).set_index("treatment")
    draws = pd.read_csv(run_out / "draws.csv")
    assert ab.loc["1", "median_months"] == 12.0
    # exponential baseline: median_t = 12 / HR_t, so its median is 12 / exp(median of d_t)
    assert ab.loc["2", "median_months"] == pytest.approx(np.median(12.0 / np.exp(draws["d[2]"])))
    assert "exponential" in ab.loc["2", "assumption"]


def test_direct_estimates_from_a_multi_arm_trial_by_hand():
    from helpers import parkinsons

    from nma.models.exact import direct_estimates
    from nma.models.spec import ModelSpec

    d = direct_estimates(parkinsons(), ModelSpec(effects="fixed", d_prior_sd=100.0), (0.025, 0.5, 0.975))
    d = d.set_index(["treatment", "comparator"])
    # 4 vs 2 only in study 3 (reference 1): y = -0.9 - (-2.3) = 1.4; var = 0.718^2 + 0.695^2 - 2 x 0.505^2 = 0.48845
    assert d.loc[("4", "2"), "mean"] == pytest.approx(1.4, abs=1e-3)        # N(0, 100^2) prior shrinks by 5e-5
    assert d.loc[("4", "2"), "sd"] == pytest.approx(0.48845 ** 0.5, abs=1e-3)
    assert d.loc[("2", "4"), "mean"] == pytest.approx(-1.4, abs=1e-3)
    # 5 vs 4: studies 6 and 7, inverse-variance pooled: (-0.3/0.274^2 - 0.3/0.320^2) / (1/0.274^2 + 1/0.320^2) = -0.3
    assert d.loc[("5", "4"), "mean"] == pytest.approx(-0.3, abs=1e-3)
    assert d.loc[("5", "4"), "sd"] == pytest.approx((1 / 0.274**2 + 1 / 0.320**2) ** -0.5, abs=1e-3)
    assert d.loc[("5", "4"), "n_studies"] == 2


def test_league_upper_triangle_holds_direct_estimates():
    long = pd.DataFrame({"row": ["A", "B"], "column": ["B", "A"], "median": [0.5, 2.0], "lower": [0.3, 1.2],
                         "upper": [0.8, 3.3]})
    direct = pd.DataFrame({"row": ["A", "B"], "column": ["B", "A"], "median": [0.6, 1 / 0.6], "lower": [0.4, 1.25],
                           "upper": [0.8, 2.5]})
    m = league.league_matrix(long, ["A", "B"], with_prob=False, direct=direct)
    assert m.loc["A", "B"] == "0.60 (0.40 to 0.80) [direct]"   # above the diagonal: direct only
    assert m.loc["B", "A"] == "2.00 (1.20 to 3.30)"            # below: network
