"""Plots: each returns a Figure, draws into a given Axes, and labels its effect axis by the measure.

Inputs are hand-made tables (no fitting). A ratio measure (HR) must be drawn exponentiated on a log axis with the
null line at 1; a difference measure (MD) as it is, on a linear axis with the null line at 0.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from nma.core.measures import MEASURES
from nma.models.priors import TauPrior
from nma.reporting import plots

# Model-scale effects of B and C versus A: log-HR for HR (HR 0.5 and 2), the difference itself for MD.
EFFECTS = {"B": (-0.6931471805599453, -1.2, -0.2), "C": (0.6931471805599453, 0.1, 1.3)}


def rel_table(with_pred: bool = True) -> pd.DataFrame:
    rows = []
    for t, (med, lo, hi) in EFFECTS.items():
        for sign, (a, b) in ((1, (t, "A")), (-1, ("A", t))):
            lo_s, hi_s = sorted((sign * lo, sign * hi))
            row = {"treatment": a, "comparator": b, "median": sign * med, "lower": lo_s, "upper": hi_s}
            if with_pred:
                row.update(pred_lower=lo_s - 0.5, pred_upper=hi_s + 0.5)
            rows.append(row)
    b, c = EFFECTS["B"][0], EFFECTS["C"][0]
    rows += [{"treatment": "B", "comparator": "C", "median": b - c, "lower": b - c - 0.8, "upper": b - c + 0.8},
             {"treatment": "C", "comparator": "B", "median": c - b, "lower": c - b - 0.8, "upper": c - b + 0.8}]
    return pd.DataFrame(rows)


def nodesplit_table() -> pd.DataFrame:
    rows = []
    for est, med in (("direct", -0.9), ("indirect", -0.3), ("network", -0.7), ("inconsistency", -0.6)):
        rows.append({"treatment": "B", "comparator": "A", "estimate": est, "median": med, "lower": med - 0.5,
                     "upper": med + 0.5, "p_value": 0.41})
    return pd.DataFrame(rows)


def sensitivity_table(code: str) -> pd.DataFrame:
    """sensitivity.csv: effect columns on the shown scale, named after the measure."""
    show = MEASURES[code].to_shown
    rows = []
    for j, prior in enumerate(("half-normal(0.5)", "fixed effect")):
        for t in ("A", "B", "C"):
            med, lo, hi = (np.nan,) * 3 if t == "A" else EFFECTS[t]
            rows.append({"prior": prior, "analysis": j == 0, "treatment": t, "comparator": "A",
                         f"{code.lower()}_median": show(med + 0.05 * j), f"{code.lower()}_lower": show(lo),
                         f"{code.lower()}_upper": show(hi)})
    return pd.DataFrame(rows)


RANKS = pd.DataFrame({"treatment": ["A", "B", "C"], "sucra": [0.5, 0.9, 0.1], "p_rank_1": [0.1, 0.8, 0.1],
                      "p_rank_2": [0.8, 0.2, 0.0], "p_rank_3": [0.1, 0.0, 0.9]})
UME = pd.DataFrame({"study": ["T1", "T2", "TOTAL"], "resdev_consistency": [1.2, 0.8, 2.0],
                    "resdev_ume": [1.0, 0.9, 1.9], "dic_consistency": [np.nan, np.nan, 7.5],
                    "dic_ume": [np.nan, np.nan, 8.1]})
CONTRASTS = pd.DataFrame({"study": ["T1", "T1", "T2", "T2"], "treatment": ["A", "B", "A", "C"], "n": [400, 402, 300, 300]})


def league_long(code: str) -> pd.DataFrame:
    """league_table.csv: row, column, median on the shown scale."""
    rel = rel_table(with_pred=False)
    return pd.DataFrame({"row": rel["treatment"], "column": rel["comparator"],
                         "median": MEASURES[code].to_shown(rel["median"].to_numpy())})


def idata():
    import arviz as az

    rng = np.random.default_rng(1)
    return az.from_dict(posterior={"d": rng.normal(size=(2, 50, 2)), "tau": np.abs(rng.normal(size=(2, 50)))},
                        dims={"d": ["treatment"]}, coords={"treatment": ["B", "C"]})


PRIOR = TauPrior("half-normal", 0.5, text="half-normal(0.5)")

#: Every plot, called on hand-made inputs with `ax` passed through.
CALLS = {
    "network_plot": lambda ax: plots.network_plot(CONTRASTS, {"B": "Drug B"}, {"B": True}, ax=ax),
    "forest_plot": lambda ax: plots.forest_plot(rel_table(), "A", "HR", ax=ax),
    "rankogram": lambda ax: plots.rankogram(RANKS, ax=ax),
    "rankogram_cumulative": lambda ax: plots.rankogram(RANKS, cumulative=True, ax=ax),
    "league_heatmap": lambda ax: plots.league_heatmap(league_long("HR"), ["A", "B", "C"], "HR", ax=ax),
    "tau_plot": lambda ax: plots.tau_plot(np.linspace(0.01, 1, 200), PRIOR, "HR", ax=ax),
    "nodesplit_forest": lambda ax: plots.nodesplit_forest(nodesplit_table(), "HR", ax=ax),
    "devdev_plot": lambda ax: plots.devdev_plot(UME, ax=ax),
    "sensitivity_forest": lambda ax: plots.sensitivity_forest(sensitivity_table("HR"), "HR", ax=ax),
    "rank_plot": lambda ax: plots.rank_plot(idata(), ["tau"], axes=ax),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_plot_returns_a_new_figure_or_draws_into_the_given_axes(name):
    fig = CALLS[name](None)
    assert isinstance(fig, Figure)
    assert fig.axes and any(a.has_data() or a.texts for a in fig.axes)
    host = Figure()
    ax = host.add_subplot()
    assert not ax.has_data()
    assert CALLS[name](ax) is host
    assert ax.has_data() or ax.texts   # drawn into the Axes given, not into a figure of its own


def test_trace_plot_draws_into_given_axes():
    fig = plots.trace_plot(idata(), ["d", "tau"])
    assert isinstance(fig, Figure) and len(fig.axes) == 4   # density + trace per variable
    host = Figure()
    axes = host.subplots(2, 2)
    assert plots.trace_plot(idata(), ["d", "tau"], axes=axes) is host
    assert all(a.has_data() for a in axes.ravel())


def _null_lines(ax) -> list[float]:
    """x of the dashed vertical lines (the null line is drawn dashed, across the whole height)."""
    return [float(line.get_xdata()[0]) for line in ax.lines
            if line.get_linestyle() == "--" and len(set(np.atleast_1d(line.get_xdata()))) == 1
            and tuple(line.get_ydata()) == (0, 1)]


def _estimate_x(ax) -> np.ndarray:
    return np.asarray(ax.containers[0].lines[0].get_xdata(), float)


def test_forest_hr_is_exponentiated_on_a_log_axis_with_null_at_1():
    fig = plots.forest_plot(rel_table(), "A", "HR", labels={"A": "Drug A"})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert _null_lines(ax) == [1.0]
    # rows are B then C, drawn top to bottom: HR 0.5 and 2 (exp of the log-HR medians)
    assert _estimate_x(ax) == pytest.approx([0.5, 2.0])
    assert ax.get_xlabel() == "HR versus Drug A (log scale)"
    ticks = [float(t) for t in ax.get_xticks()]
    assert set(ticks) <= {0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20} and 1.0 in ticks
    fig.draw_without_rendering()
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{v:g}" for v in ticks]


def test_forest_md_is_linear_with_null_at_0_and_not_exponentiated():
    fig = plots.forest_plot(rel_table(), "A", MEASURES["MD"])
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert _null_lines(ax) == [0.0]
    assert _estimate_x(ax) == pytest.approx([-0.6931471805599453, 0.6931471805599453])   # the MDs themselves
    # interval ends and the predictive interval are on the MD scale too
    err = ax.containers[0].lines[2][0].get_segments()
    assert [tuple(s[:, 0]) for s in err] == [pytest.approx((-1.2, -0.2)), pytest.approx((0.1, 1.3))]
    pred = next(c for c in ax.collections if c.get_label().startswith("95% predictive"))
    assert [tuple(s[:, 0]) for s in pred.get_segments()] == [pytest.approx((-1.7, 0.3)), pytest.approx((-0.4, 1.8))]
    assert ax.get_xlabel() == "MD versus A"
    assert "log" not in ax.get_xlabel()
    lo, hi = ax.get_xlim()
    assert lo < -1.2 and hi > 1.3 and lo > -5 and hi < 5       # a difference scale, not exp(-1.2) .. exp(1.3)
    fig.draw_without_rendering()
    labels = [t.get_text().replace("\N{MINUS SIGN}", "-") for t in ax.get_xticklabels()]
    assert any(label.startswith("-") for label in labels)       # negative differences: no exponentiation
    assert [float(x) for x in labels] == pytest.approx([float(v) for v in ax.get_xticks()])


def test_forest_accepts_measure_codes_case_insensitively_and_rejects_unknown():
    assert plots.forest_plot(rel_table(), "A", "md").axes[0].get_xscale() == "linear"
    from nma.errors import ModelSpecError

    with pytest.raises(ModelSpecError, match="measure='HX'"):
        plots.forest_plot(rel_table(), "A", "HX")


def test_forest_fixed_effect_beside_network_estimate():
    fixed = rel_table(with_pred=False)
    fixed["median"] += 0.1
    ax = plots.forest_plot(rel_table(), "A", "HR", fixed=fixed).axes[0]
    assert np.asarray(ax.containers[1].lines[0].get_xdata(), float) == pytest.approx(np.exp([-0.5931471805599453,
                                                                                              0.7931471805599453]))
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "fixed effect"


@pytest.mark.parametrize("code, scale, null, shown", [("HR", "log", 1.0, [np.exp(-0.9), np.exp(-0.3), np.exp(-0.7)]),
                                                      ("MD", "linear", 0.0, [-0.9, -0.3, -0.7])])
def test_nodesplit_forest_follows_the_measure(code, scale, null, shown):
    ax = plots.nodesplit_forest(nodesplit_table(), code).axes[0]
    assert ax.get_xscale() == scale
    assert _null_lines(ax) == [null]
    assert [float(c.lines[0].get_xdata()[0]) for c in ax.containers] == pytest.approx(shown)
    assert ax.get_xlabel().startswith(f"{code} (median, 95% CrI{'; log scale' if code == 'HR' else ''})")


@pytest.mark.parametrize("code, scale, null", [("HR", "log", 1.0), ("MD", "linear", 0.0)])
def test_sensitivity_forest_follows_the_measure(code, scale, null):
    ax = plots.sensitivity_forest(sensitivity_table(code), code, labels={"A": "Drug A"}).axes[0]
    assert ax.get_xscale() == scale
    assert _null_lines(ax) == [null]
    b_analysis = float(ax.containers[0].lines[0].get_xdata()[0])   # B under the analysis's prior, drawn first
    assert b_analysis == pytest.approx(MEASURES[code].to_shown(EFFECTS["B"][0]))
    assert ax.get_xlabel() == f"{code} versus Drug A (median, 95% CrI{'; log scale' if code == 'HR' else ''})"


@pytest.mark.parametrize("code", ["HR", "MD"])
def test_league_heatmap_colours_log_ratio_or_difference(code):
    fig = plots.league_heatmap(league_long(code), ["A", "B", "C"], code)
    ax, cbar = fig.axes
    colours = np.asarray(ax.images[0].get_array(), float)
    # row B, column A: log-HR -0.693 (HR 0.5) or MD -0.693; the colour is on the model scale either way, signed so
    # that positive favours the row (issue 15: one colour convention): lower is better, so +0.693
    assert colours[1, 0] == pytest.approx(0.6931471805599453)
    shown = {t.get_text() for t in ax.texts}
    assert ("0.50" in shown) == (code == "HR") and ("-0.69" in shown) == (code == "MD")
    assert cbar.get_ylabel() == f"{code} (green: favours the row; pink: favours the column)"
    # the bar's ticks are the effect a colour stands for: colour +0.693 (favours the row) is HR 0.50 or MD -0.69
    tick = cbar.yaxis.get_major_formatter()(0.6931471805599453, 0)
    assert tick == ("0.50" if code == "HR" else "-0.69")
    higher = plots.league_heatmap(league_long(code), ["A", "B", "C"], code, lower_is_better=False).axes[0]
    assert np.asarray(higher.images[0].get_array(), float)[1, 0] == pytest.approx(-0.6931471805599453)


def test_tau_plot_labels_the_model_scale_and_draws_the_prior_density():
    ax = plots.tau_plot(np.linspace(0.01, 1, 200), PRIOR, "MD").axes[0]
    assert ax.get_xlabel() == "tau (between-trial SD of the MD)"
    assert plots.tau_plot(np.linspace(0.01, 1, 200), PRIOR, "HR").axes[0].get_xlabel() == \
        "tau (between-trial SD of the log-HR)"
    x, y = ax.lines[0].get_data()
    # half-normal(0.5) density: 2 / (0.5 sqrt(2 pi)) exp(-x^2 / (2 * 0.25))
    assert y == pytest.approx(2 / (0.5 * math.sqrt(2 * math.pi)) * np.exp(-x**2 / 0.5))


def test_network_subtitle_mentions_dual_blockade_only_when_present():
    with_dual = plots.network_plot(CONTRASTS, dual={"B": True}).axes[0]
    without = plots.network_plot(CONTRASTS, dual={"B": False}).axes[0]
    assert "orange: dual HER2 blockade" in with_dual.get_title()
    assert "orange" not in without.get_title() and "node area ~ patients randomised" in without.get_title()
    # node colours: B orange, A and C green (node order A, B, C)
    colours = with_dual.collections[-1].get_facecolors()[:, :3]
    assert np.allclose(colours[1], matplotlib.colors.to_rgb("#d95f02"))
    assert np.allclose(colours[[0, 2]], matplotlib.colors.to_rgb("#1b9e77"))


def test_rankogram_cumulative_is_the_running_sum():
    ax = plots.rankogram(RANKS, cumulative=True).axes[0]
    assert ax.lines[1].get_ydata() == pytest.approx([0.8, 1.0, 1.0])
    assert ax.get_ylabel() == "P(rank <= k)"
    assert [t.get_text() for t in ax.get_legend().get_texts()][1] == "B (SUCRA 0.90)"


def test_style_is_per_figure_not_global():
    before = dict(matplotlib.rcParams)
    ax = plots.forest_plot(rel_table(), "A", "HR").axes[0]
    assert dict(matplotlib.rcParams) == before
    assert ax.xaxis.label.get_fontsize() == plots.STYLE["font.size"]
    assert ax.get_yticklabels()[0].get_fontsize() == plots.STYLE["font.size"]   # tick labels too (made lazily)


def test_save_figure_writes_png_and_svg_reproducibly(tmp_path):
    paths = [plots.save_figure(plots.forest_plot(rel_table(), "A", "HR"), tmp_path / name) for name in ("a", "b")]
    assert paths == [tmp_path / "a.png", tmp_path / "b.png"]
    for suffix in (".png", ".svg"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    svg = (tmp_path / "a.svg").read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    assert "HR versus A (log scale)" in svg   # svg.fonttype none: text stays text
    assert b"Software" not in (tmp_path / "a.png").read_bytes()
    assert matplotlib.rcParams["svg.hashsalt"] is None   # the SVG settings applied only while saving


def test_save_figure_frees_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    fig = plots.rank_plot(idata(), ["tau"])   # ArviZ makes its figures with pyplot
    assert fig.number in plt.get_fignums()
    assert plots.save_figure(fig, tmp_path / "rank.png") == tmp_path / "rank.png"
    assert fig.number not in plt.get_fignums()
    assert (tmp_path / "rank.svg").exists()


def test_check_figures_saves_the_model_checks_figures(tmp_path):
    checks = SimpleNamespace(nodesplit=nodesplit_table(), ume=UME, sensitivity=sensitivity_table("MD"), measure="MD")
    images = plots.check_figures(checks, tmp_path, {"A": "Drug A"})
    assert images == {"node-splitting": tmp_path / "nodesplit.png", "dev-dev (consistency vs UME)": tmp_path / "devdev.png",
                      "heterogeneity prior sensitivity": tmp_path / "sensitivity.png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devdev.png", "devdev.svg", "nodesplit.png", "nodesplit.svg",
                                                         "sensitivity.png", "sensitivity.svg"]
    none = SimpleNamespace(nodesplit=None, ume=None, sensitivity=None, measure="HR")
    assert plots.check_figures(none, tmp_path) == {}


def test_network_label_sits_in_the_widest_gap_between_its_edges():
    """A hub with edges at 45, -60 and 180 degrees: its label goes at 112.5 degrees, the bisector of the widest gap
    (135 degrees, from 45 to 180), as far from every edge as it can be."""
    at = np.zeros(2)
    nbrs = [np.array([np.cos(np.radians(a)), np.sin(np.radians(a))]) for a in (45, -60, 180)]
    d = plots.label_direction(at, nbrs)
    assert np.degrees(np.arctan2(d[1], d[0])) == pytest.approx(112.5)
    assert plots.label_direction(at, []) == pytest.approx([0.0, -1.0])
    assert plots.label_direction(at, [np.array([1.0, 0.0])]) == pytest.approx([-1.0, 0.0])   # opposite its one edge
