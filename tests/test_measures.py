"""The measure is a property of the network: TSD2 Example 7 (Parkinson's, mean off-time difference) through
Network.from_contrasts(measure="MD") and through `nma run` with [data] measure = "MD" reports mean differences
(not exponentiated, null 0) in every table and the report, against TSD2's published values."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import REF, tsd2_published, tsd2_spec

from nma.core.network import Network
from nma.inputs.contrasts import load_contrasts
from nma.reporting import league

ROOT = Path(__file__).resolve().parents[1]
PUB = tsd2_published()
TOL = PUB["tolerance"]["value"]     # 0.02: published values rounded to 2 decimals, WinBUGS MCMC


def parkinsons_md() -> Network:
    return Network.from_contrasts(load_contrasts(REF / "tsd2_parkinsons.csv"), measure="MD", reference="1")


def test_from_contrasts_md_league_cells_are_differences_matching_tsd2():
    from nma.constants import CI_PROB
    from nma.models.exact import exact_relative_effects, fit_exact
    from nma.posterior.summaries import probs_for

    net = parkinsons_md()
    assert net.measure.code == "MD" and not net.measure.is_ratio
    rel = exact_relative_effects(fit_exact(net, tsd2_spec("random")), probs_for(CI_PROB))
    long = league.league_long(rel, None, net.treatments, net.measure).set_index(["row", "column"])
    cell = long.loc[("2", "1")]
    # TSD2 Example 7, random effects: d_12 mean -1.85, 95% CrI (-2.91, -0.85); the posterior is near-symmetric, so
    # its median is within the published rounding of the mean
    assert cell["median"] == pytest.approx(PUB["random"]["d"]["2"][0], abs=TOL)
    assert (cell["lower"], cell["upper"]) == pytest.approx(tuple(PUB["random"]["d2_crI"]), abs=TOL)
    assert "excludes_0" in long and bool(cell["excludes_0"])          # the CrI excludes 0, not 1
    assert long.loc[("1", "2"), "median"] == pytest.approx(-cell["median"])   # a difference flips sign, not 1/x
    matrix = league.league_matrix(long.reset_index(), list(net.treatments), with_prob=False)
    assert matrix.loc["2", "1"] == f"{cell['median']:.2f} ({cell['lower']:.2f} to {cell['upper']:.2f})"
    assert matrix.loc["2", "1"].startswith("-1.8")   # exp(-1.84) = 0.16 would be a ratio
    text = league.caption(net.measure)
    assert "MD (mean difference) of the ROW treatment minus the COLUMN treatment" in text
    assert "MD below 0 favours the row treatment" in text and "HR" not in text


def test_ratio_caption_is_unchanged():
    assert league.caption("HR") == ("Each cell is the HR of the ROW treatment versus the COLUMN treatment: posterior "
                                    "median (95% credible interval). HR below 1 favours the row treatment. Second line: "
                                    "probability that the row treatment is better than the column treatment.")


CONFIG = f"""
title = "TSD2 Example 7: mean off-time reduction"
[data]
contrasts = "{REF / 'tsd2_parkinsons.csv'}"
measure = "MD"
[model]
effects = "random"
reference = "1"
d_prior_sd = 100
tau_prior = "uniform(0, 5)"
engine = "exact"
[sampler]
seed = 7
"""


@pytest.fixture(scope="module")
def md_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("md")
    cfg = folder / "parkinsons_md.toml"
    cfg.write_text(CONFIG)
    out = folder / "out"
    res = subprocess.run([sys.executable, "-m", "nma", "run", str(cfg), "--out", str(out)], check=False,
                         cwd=folder, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "Relative effects versus 1 (MD" in res.stdout
    return out


def test_md_run_relative_effects_have_no_ratio_columns(md_run):
    rel = pd.read_csv(md_run / "relative_effects.csv", dtype={"treatment": str, "comparator": str})
    assert not [c for c in rel.columns if c.startswith("exp_")]
    row = rel[(rel.treatment == "2") & (rel.comparator == "1")].iloc[0]
    assert row["mean"] == pytest.approx(PUB["random"]["d"]["2"][0], abs=TOL)


def test_md_run_league_table_cells_are_the_posterior_differences(md_run):
    rel = pd.read_csv(md_run / "relative_effects.csv", dtype={"treatment": str, "comparator": str})
    want = rel[(rel.treatment == "2") & (rel.comparator == "1")].iloc[0]
    long = pd.read_csv(md_run / "league_table.csv", dtype={"row": str, "column": str})
    assert "excludes_0" in long and "excludes_1" not in long
    got = long[(long.row == "2") & (long.column == "1")].iloc[0]
    assert (got["median"], got["lower"], got["upper"]) == pytest.approx((want["median"], want["lower"], want["upper"]))
    matrix = pd.read_csv(md_run / "league_table_matrix.csv", dtype=str, index_col=0)
    cell = matrix.loc["2", "1"].split("\n")[0]
    assert cell == f"{want['median']:.2f} ({want['lower']:.2f} to {want['upper']:.2f})"
    median, lower, upper = map(float, re.match(r"(\S+) \((\S+) to (\S+)\)", cell).groups())
    assert median == pytest.approx(PUB["random"]["d"]["2"][0], abs=TOL)       # TSD2: -1.85 (-2.91, -0.85)
    assert (lower, upper) == pytest.approx(tuple(PUB["random"]["d2_crI"]), abs=TOL)


def _text(path: Path) -> str:
    """The page without its embedded images (base64 can spell anything)."""
    return re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["report.html", "league_table.html", "league_table.md"])
def test_md_run_pages_never_say_hazard_ratio(md_run, name):
    text = _text(md_run / name)
    assert not re.search(r"\bHR\b", text), re.search(r".{0,60}\bHR\b.{0,60}", text).group(0)
    assert "hazard ratio" not in text.lower()
    assert "log-HR" not in text and "exp(" not in text
    assert "MD (mean difference) of the ROW treatment minus the COLUMN treatment" in text


def test_md_report_describes_the_evidence_as_differences(md_run):
    text = _text(md_run / "report.html")
    assert "Mean differences (MD) and their SEs as given in the contrast file." in text
    assert "y (MD vs study reference)" in text
    assert "direct minus indirect, as a mean difference" in text
    assert "measure: mean difference (MD)" in text


def test_md_run_figures_never_say_hazard_ratio_and_use_linear_effect_axes(md_run):
    """Every figure of the MD run (SVG text is kept as text): no HR, no log scale on an effect axis, and the labels
    that name the scale say MD."""
    figures = sorted((md_run / "figures").glob("*.svg"))
    assert {f.stem for f in figures} >= {"forest", "league_heatmap", "sensitivity", "nodesplit", "tau"}
    for fig in figures:
        text = fig.read_text(encoding="utf-8")
        assert not re.search(r"\bHR\b", text) and "hazard ratio" not in text.lower(), fig.name
        assert "log scale" not in text, fig.name
    for name in ("forest", "sensitivity", "nodesplit"):
        assert "MD" in (md_run / "figures" / f"{name}.svg").read_text(encoding="utf-8"), name
