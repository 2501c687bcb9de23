"""Figures a committee can read: network, forest, rankograms, league heatmap, tau, node-split, dev-dev, sensitivity
and ArviZ diagnostics.

Every plot function returns a matplotlib Figure and takes ``ax=None``: given an Axes it draws into it (and returns
its figure), else it makes a new figure of a size that suits the plot. Figures are made without pyplot, so nothing
is registered globally and nothing opens a window; `save_figure` writes one as PNG and SVG (deterministic metadata)
and closes it. A plot with two views is two functions (`rankogram(cumulative=...)`; `trace_plot`, `rank_plot`).

Effect axes follow the measure (a `nma.core.measures.Measure` or its code, "HR", "MD"): a ratio measure is drawn on
a log axis labelled "HR ... (log scale)" with the null line at 1; a difference measure on a linear axis labelled
"MD ..." with the null line at 0. Summary tables hold `median`, `lower`, `upper` on the model scale; the plots
show `measure.to_shown(...)` of them (exp for ratios, as they are for differences).

Importing this module changes no global state: the font size is applied per figure and the SVG settings per save,
through `matplotlib.rc_context`.
"""

from __future__ import annotations

import functools
import inspect
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nma.core.measures import Measure, measure_of

#: Applied while a figure is drawn: text sizes are fixed when text is created.
STYLE = {"font.size": 11}
#: Applied while a figure is saved: a fixed salt makes SVG element ids (and so the file) reproducible, and text stays
#: text (searchable, no embedded glyph paths).
SVG_STYLE = {"svg.hashsalt": "nma", "svg.fonttype": "none"}

#: Node-split and sensitivity intervals span more than the network's (single-trial direct estimates).
WIDE_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
RATIO_TICKS = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)
#: PNG resolution: 300 dpi is what printed dossiers and journals ask for; the SVG beside it scales without loss.
DPI = 300
#: A study is an outlier of the dev-dev plot when its two deviances differ by more than this (or one exceeds 1 + it):
#: about the 95th percentile of a chi-squared(1) deviance, 3.84, rounded down so borderline studies are named.
DEVDEV_OUTLIER = 3.0
#: One colour convention in every table and plot, for HR and OR alike: the row (or the treatment) is favoured =
#: green, the column (or comparator) is favoured = pink; the league tables' cell colours are these.
FAVOURS_ROW, FAVOURS_COL = "#1a9850", "#c51b7d"


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as `path`.png (DPI, print quality) and `path`.svg, without dates or software versions in them (the same
    figure gives the same bytes), close it, and return the PNG path. Any suffix of `path` is replaced."""
    path = Path(path)
    with matplotlib.rc_context(SVG_STYLE):
        fig.savefig(path.with_suffix(".png"), dpi=DPI, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(path.with_suffix(".svg"), bbox_inches="tight", metadata={"Date": None, "Creator": None})
    if getattr(fig.canvas, "manager", None) is not None:   # a pyplot figure (ArviZ's): free it from pyplot's registry
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path.with_suffix(".png")


def _styled(draw):
    """Draw under STYLE, and create the lazily made tick labels before leaving it, so they get STYLE's size too."""
    signature = inspect.signature(draw)

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs).arguments
        given = [a for a in np.ravel(np.asarray(bound.get("ax", bound.get("axes")), dtype=object)) if a is not None]
        before = {a for g in given for a in g.figure.axes}
        with matplotlib.rc_context(STYLE):
            fig = draw(*args, **kwargs)
            for a in fig.axes:   # ours: the new figure's, or the given axes and any this plot added (a colour bar)
                if a not in before or any(a is g for g in given):
                    for axis in (a.xaxis, a.yaxis):
                        axis.get_major_ticks()
                        axis.get_minor_ticks()
        return fig
    return wrapper


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize)
    return fig, fig.add_subplot()


def _effect_axis(ax: Axes, measure: Measure, ticks: tuple[float, ...] = RATIO_TICKS, axis: str = "x") -> None:
    """The axis (x or y) of an effect: a dashed line at no effect; for a ratio, a log scale with plain tick labels
    at `ticks` within the data's range (the range kept as it was)."""
    (ax.axvline if axis == "x" else ax.axhline)(measure.null, color="grey", ls="--")
    if measure.is_ratio:
        getattr(ax, f"set_{axis}scale")("log")
        scale = getattr(ax, f"{axis}axis")
        scale.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        scale.set_minor_formatter(matplotlib.ticker.NullFormatter())
        lo, hi = getattr(ax, f"get_{axis}lim")()
        getattr(ax, f"set_{axis}ticks")([t for t in ticks if lo <= t <= hi])
        getattr(ax, f"set_{axis}lim")(lo, hi)


def _scale_note(measure: Measure) -> str:
    return "; log scale" if measure.is_ratio else ""


def _shown(measure: Measure, rows: pd.DataFrame, prefix: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """median, lower, upper of `rows` on the shown scale (from the model-scale columns)."""
    return tuple(np.asarray(measure.to_shown(rows[f"{prefix}{c}"].to_numpy(float))) for c in ("median", "lower", "upper"))


def label_direction(at: np.ndarray, neighbours: list[np.ndarray]) -> np.ndarray:
    """Unit vector for a node's label: the bisector of the widest angle between the node's edges, where no edge (nor
    its label, at the edge's middle) runs. Pointing away from the neighbours' mean instead put a hub's label on one
    of its own edges. Below the node when it has no edge; opposite the edge when it has one."""
    if not neighbours:
        return np.array([0.0, -1.0])
    angles = np.sort([np.arctan2(*(u - at)[::-1]) for u in neighbours])
    gaps = np.diff(np.append(angles, angles[0] + 2 * np.pi))
    k = int(np.argmax(gaps))
    mid = angles[k] + gaps[k] / 2
    return np.array([np.cos(mid), np.sin(mid)])


@_styled
def network_plot(contrasts: pd.DataFrame, labels: dict[str, str] | None = None, dual: dict[str, bool] | None = None,
                 ax: Axes | None = None) -> Figure:
    """Node size ~ patients randomised, edge width ~ number of trials, edges labelled with trial names.

    `contrasts` has one row per arm (study, treatment, and n if known); `dual` marks dual HER2 blockade regimens,
    drawn orange (the subtitle says so only when there is one). Kamada-Kawai places linked treatments near each
    other (fewer crossings than a circle; deterministic), and labels sit beside their node on a white box so a
    printed page stays readable."""
    import networkx as nx

    labels, dual = labels or {}, dual or {}
    g = nx.Graph()
    n = contrasts.groupby("treatment")["n"].sum(min_count=1) if "n" in contrasts else pd.Series(dtype=float)
    for t in contrasts["treatment"].unique():
        g.add_node(t)
    for study, grp in contrasts.groupby("study", sort=False):
        arms = list(grp["treatment"])
        for i, a in enumerate(arms):
            for b in arms[i + 1:]:
                if g.has_edge(a, b):
                    g[a][b]["studies"].append(str(study))
                else:
                    g.add_edge(a, b, studies=[str(study)])
    pos = nx.kamada_kawai_layout(g) if len(g) > 2 else {t: (float(i), 0.0) for i, t in enumerate(g)}
    sizes = np.array([float(n.get(t, np.nan)) if t in n else np.nan for t in g.nodes])
    sizes = np.where(np.isfinite(sizes), sizes, np.nanmedian(sizes) if np.isfinite(sizes).any() else 1.0)
    sizes = 250 + 1500 * sizes / sizes.max()
    fig, ax = _axes(ax, (11, 8) if len(g) > 5 else (8, 5.5))
    widths = [1.5 * len(d["studies"]) + 0.5 for _, _, d in g.edges(data=True)]
    nx.draw_networkx_edges(g, pos, ax=ax, width=widths, edge_color="#9a9a9a")
    colours = ["#d95f02" if dual.get(t, False) else "#1b9e77" for t in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=sizes, node_color=colours, alpha=0.9)
    box = {"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
    for t, size in zip(g.nodes, sizes):
        away = label_direction(np.asarray(pos[t]), [np.asarray(pos[u]) for u in g.neighbors(t)])
        r = 10 + 0.5 * np.sqrt(size)
        ax.annotate(textwrap.fill(labels.get(t, t), 22), pos[t], xytext=(r * away[0], r * away[1]), textcoords="offset points",
                    ha="left" if away[0] > 0.4 else "right" if away[0] < -0.4 else "center",
                    va="bottom" if away[1] > 0.4 else "top" if away[1] < -0.4 else "center", fontsize=9, bbox=box)
    nx.draw_networkx_edge_labels(g, pos, ax=ax, font_size=7.5, rotate=False, font_color="#333333",
                                 edge_labels={(a, b): "\n".join(d["studies"]) for a, b, d in g.edges(data=True)},
                                 bbox={**box, "alpha": 0.7})
    legend = "node area ~ patients randomised; edge width ~ trials"
    if any(dual.get(t, False) for t in g.nodes):
        legend = "orange: dual HER2 blockade; " + legend
    ax.set_title(f"Treatment network\n{legend}", fontsize=10)
    ax.axis("off")
    ax.margins(0.18, 0.2)
    return fig


@_styled
def forest_plot(rel: pd.DataFrame, comparator: str, measure: str | Measure, fixed: pd.DataFrame | None = None,
                labels: dict[str, str] | None = None, ax: Axes | None = None,
                lower_is_better: bool | None = None) -> Figure:
    """Every treatment versus `comparator` (median and 95% CrI; the predictive interval when `rel` has it), with the
    fixed-effect result beside it if given, sorted by effect, the numbers printed beside each bar and, when
    `lower_is_better` is given, "favours" labels under the axis. `rel`, `fixed`: relative-effect tables (treatment,
    comparator, median, lower, upper, optionally pred_lower, pred_upper) on the model scale."""
    measure = measure_of(measure)
    labels = labels or {}
    rows = rel[rel["comparator"] == comparator].reset_index(drop=True)
    if lower_is_better is not None:   # best first, at the top
        rows = rows.sort_values("median", ascending=lower_is_better, kind="stable").reset_index(drop=True)
    fig, ax = _axes(ax, (9, 0.6 * len(rows) + 1.8))
    y = np.arange(len(rows))[::-1]
    med, lo, hi = _shown(measure, rows)
    ax.errorbar(med, y, xerr=[med - lo, hi - med], fmt="s", color="black", capsize=3, label="network estimate (95% CrI)")
    if "pred_lower" in rows:
        ax.hlines(y + 0.2, measure.to_shown(rows["pred_lower"].to_numpy(float)),
                  measure.to_shown(rows["pred_upper"].to_numpy(float)), color="grey", lw=1.5,
                  label="95% predictive interval (new trial)")
    if fixed is not None:
        f = fixed[fixed["comparator"] == comparator].set_index("treatment").loc[rows["treatment"]]
        fmed, flo, fhi = _shown(measure, f)
        ax.errorbar(fmed, y - 0.25, xerr=[fmed - flo, fhi - fmed], fmt="o", color="#1f78b4", capsize=3, label="fixed effect")
    _effect_axis(ax, measure)
    ax.set_ylim(-0.75, len(rows) - 0.25)
    ax.set_yticks(y, [labels.get(t, t) for t in rows["treatment"]])
    beside = matplotlib.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(1.02, len(rows) - 0.45, f"{measure.code} (95% CrI)", transform=beside, fontsize=9, fontweight="bold",
            va="bottom")
    for yi, a, b, c in zip(y, med, lo, hi):
        ax.text(1.02, yi, f"{a:.2f} ({b:.2f} to {c:.2f})", transform=beside, va="center", fontsize=9)
    name = labels.get(comparator, comparator)
    scale = " (log scale)" if measure.is_ratio else ""
    ax.set_xlabel(f"{measure.code} versus {name}{scale}")
    if lower_is_better is not None:
        left, right = ("treatment", name) if lower_is_better else (name, "treatment")
        ax.text(0.0, -0.16 if len(rows) > 3 else -0.3, f"\u2190 favours {left}", transform=ax.transAxes, ha="left",
                va="top", fontsize=9, color=FAVOURS_ROW if lower_is_better else FAVOURS_COL)
        ax.text(1.0, -0.16 if len(rows) > 3 else -0.3, f"favours {right} \u2192", transform=ax.transAxes, ha="right",
                va="top", fontsize=9, color=FAVOURS_COL if lower_is_better else FAVOURS_ROW)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    return fig


@_styled
def rankogram(rank_table: pd.DataFrame, cumulative: bool = False, ax: Axes | None = None,
              labels: dict[str, str] | None = None) -> Figure:
    """P(rank = k) per treatment, or with `cumulative` P(rank <= k); `rank_table` has treatment, sucra and
    p_rank_1 ... p_rank_T (as ranks.csv). The legend names treatments by `labels` (id -> name), best SUCRA first."""
    labels = labels or {}
    cols = [c for c in rank_table.columns if c.startswith("p_rank_")]
    k = np.arange(1, len(cols) + 1)
    fig, ax = _axes(ax, (7, 4.5))
    for _, r in rank_table.iterrows():
        p = r[cols].to_numpy(float)
        ax.plot(k, np.cumsum(p) if cumulative else p, marker="o", label=f"{labels.get(r['treatment'], r['treatment'])} (SUCRA {r['sucra']:.2f})")
    ax.set_xticks(k)
    ax.set_xlabel("rank (1 = best)")
    ax.set_ylabel("P(rank <= k)" if cumulative else "P(rank = k)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("Cumulative rankogram" if cumulative else "Rankogram")
    return fig


@_styled
def league_heatmap(long: pd.DataFrame, order: list[str], measure: str | Measure, ax: Axes | None = None,
                   lower_is_better: bool = True, labels: dict[str, str] | None = None) -> Figure:
    """Median of row versus column for every pair, coloured by how much it favours the row (green, FAVOURS_ROW) or
    the column (pink), on the model scale (log for a ratio) centred on no effect: the same convention for HR and OR.
    `long`: row, column, median on the SHOWN scale (the ratio for HR), as `league.league_long` gives."""
    measure = measure_of(measure)
    labels = labels or {}
    m = long.pivot(index="row", columns="column", values="median").reindex(index=order, columns=order)
    effect = np.asarray(measure.from_shown(m.to_numpy(float)))
    benefit = -effect if lower_is_better else effect   # > 0: the row is better
    lim = np.nanmax(np.abs(benefit)) if np.isfinite(benefit).any() else 1.0
    fig, ax = _axes(ax, (1.1 * len(order) + 3.5, 1.0 * len(order) + 2.0))
    im = ax.imshow(benefit, cmap="PiYG", vmin=-lim, vmax=lim)
    for i in range(len(order)):
        for j in range(len(order)):
            if i != j:
                ax.text(j, i, f"{m.iloc[i, j]:.2f}", ha="center", va="center", fontsize=9)
    names = [labels.get(t, t) for t in order]
    ax.set_xticks(range(len(order)), [textwrap.fill(n, 22) for n in names], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(order)), [textwrap.fill(n, 28) for n in names], fontsize=8)
    ax.set_xlabel("column treatment")
    ax.set_ylabel("row treatment")
    bar = fig.colorbar(im, ax=ax, label=f"{measure.code} (green: favours the row; pink: favours the column)")
    # ticks on the shown scale (an HR, not its log): the colour is the benefit, the label the effect it stands for
    bar.ax.yaxis.set_major_formatter(lambda v, _: f"{float(measure.to_shown(-v if lower_is_better else v)):.2f}")
    ax.set_title(f"{measure.code} of row vs column (median)")
    return fig


@_styled
def tau_plot(tau_draws: np.ndarray, prior, measure: str | Measure, ax: Axes | None = None) -> Figure:
    """Posterior draws of tau (histogram) against the prior's density (`prior.logpdf`, labelled `prior.text`)."""
    measure = measure_of(measure)
    fig, ax = _axes(ax, (7, 4))
    hi = float(np.quantile(tau_draws, 0.995)) * 1.2
    ax.hist(tau_draws, bins=60, range=(0, hi), density=True, alpha=0.6, label="posterior")
    grid = np.linspace(1e-4, hi, 400)
    ax.plot(grid, np.exp(prior.logpdf(grid)), color="black", label=f"prior: {prior.text}")
    ax.set_xlabel(f"tau (between-trial SD of the {measure.model_label})")
    ax.set_ylabel("density")
    ax.legend()
    return fig


@_styled
def trace_plot(idata, var_names: list[str], axes: np.ndarray | None = None) -> Figure:
    """ArviZ trace plot (density and trace per variable, chains overlaid); `axes`: a (len(var_names), 2) array."""
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        # ArviZ 0.23's compact trace calls a matplotlib helper the way matplotlib 3.11 deprecates; not ours to fix
        warnings.filterwarnings("ignore", message="Passing a dict or None as alias_mapping to normalize_kwargs")
        return np.ravel(az.plot_trace(idata, var_names=var_names, compact=True, axes=axes))[0].figure


@_styled
def rank_plot(idata, var_names: list[str], axes: np.ndarray | Axes | None = None) -> Figure:
    """ArviZ rank plot (uniform ranks across chains when they mix); `axes`: one Axes per variable and coordinate."""
    import arviz as az

    return np.ravel(az.plot_rank(idata, var_names=var_names, ax=axes))[0].figure


@_styled
def nodesplit_forest(table: pd.DataFrame, measure: str | Measure, labels: dict[str, str] | None = None,
                     ax: Axes | None = None) -> Figure:
    """Direct, indirect and network estimate of each split comparison, with the inconsistency p-value. `table`: as
    nodesplit.csv (treatment, comparator, estimate, median, lower, upper on the model scale, p_value)."""
    measure = measure_of(measure)
    labels = labels or {}
    est = table[table["estimate"].isin(["direct", "indirect", "network"])]
    comps = list(dict.fromkeys(zip(est["treatment"], est["comparator"])))
    style = {"direct": ("o", "#1b9e77"), "indirect": ("^", "#d95f02"), "network": ("s", "black")}
    fig, ax = _axes(ax, (7.5, 1.0 * len(comps) + 1.5))
    ticks, names = [], []
    for i, (t, c) in enumerate(comps):
        base = 4 * (len(comps) - 1 - i)
        rows = est[(est["treatment"] == t) & (est["comparator"] == c)].set_index("estimate")
        for k, name in enumerate(("direct", "indirect", "network")):
            med, lo, hi = (float(v[0]) for v in _shown(measure, rows.loc[[name]]))
            marker, colour = style[name]
            ax.errorbar(med, base + 2 - k, xerr=[[med - lo], [hi - med]], fmt=marker, color=colour, capsize=3,
                        label=name if i == 0 else None)
        ticks.append(base + 1)
        names.append(f"{labels.get(t, t)} vs {labels.get(c, c)}\np = {rows['p_value'].iloc[0]:.2f}")
    _effect_axis(ax, measure, WIDE_TICKS)
    ax.set_yticks(ticks, names, fontsize=9)
    ax.set_xlabel(f"{measure.code} (median, 95% CrI{_scale_note(measure)}); p: Bayesian p-value for direct vs indirect")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Node-splitting", fontsize=10)
    return fig


@_styled
def devdev_plot(ume: pd.DataFrame, ax: Axes | None = None, outlier: float = DEVDEV_OUTLIER) -> Figure:
    """Per-study residual deviance, consistency (x) vs UME (y): points well below the line fit worse under consistency.
    Only outliers are labelled: studies whose deviances differ by more than `outlier`, or whose residual deviance
    under either model exceeds 1 + `outlier` (one data point fits with deviance about 1).
    `ume`: as ume.csv (study, resdev_consistency, resdev_ume; a TOTAL row with dic_consistency, dic_ume)."""
    per = ume[ume["study"] != "TOTAL"]
    x, y = per["resdev_consistency"].to_numpy(float), per["resdev_ume"].to_numpy(float)
    top = 1.05 * max(x.max(), y.max(), 1.0)
    fig, ax = _axes(ax, (5.5, 5.5))
    ax.plot([0, top], [0, top], color="grey", ls="--", label="line of equality")
    ax.scatter(x, y, color="#1f78b4", zorder=3)
    for s, a, b in zip(per["study"], x, y):
        if abs(a - b) > outlier or max(a, b) > 1 + outlier:
            ax.annotate(str(s), (a, b), textcoords="offset points", xytext=(4, 3), fontsize=8)
    tot = ume[ume["study"] == "TOTAL"].iloc[0]
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"residual deviance, consistency model (DIC {tot['dic_consistency']:.1f})")
    ax.set_ylabel(f"residual deviance, UME model (DIC {tot['dic_ume']:.1f})")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Dev-dev plot (posterior mean residual deviance per study)", fontsize=10)
    return fig


@_styled
def sensitivity_forest(table: pd.DataFrame, measure: str | Measure, labels: dict[str, str] | None = None,
                       ax: Axes | None = None) -> Figure:
    """Effect of each treatment versus the reference under every tau prior and fixed effect, grouped by treatment.
    `table`: as sensitivity.csv, whose effect columns are named after the measure (hr_median, md_median, ...) and
    are on the SHOWN scale."""
    measure = measure_of(measure)
    labels = labels or {}
    m = measure.code.lower()
    rows = table[table[f"{m}_median"].notna()]
    priors = list(dict.fromkeys(rows["prior"]))
    treatments = list(dict.fromkeys(rows["treatment"]))
    colours = matplotlib.colormaps["tab10"]
    k = len(priors)
    fig, ax = _axes(ax, (7.5, 0.25 * k * len(treatments) + 0.6 * len(treatments) + 1.5))
    ticks = []
    for i, t in enumerate(treatments):
        base = (k + 1) * (len(treatments) - 1 - i)
        ticks.append(base + (k - 1) / 2)
        for j, p in enumerate(priors):
            r = rows[(rows["treatment"] == t) & (rows["prior"] == p)].iloc[0]
            ax.errorbar(r[f"{m}_median"], base + k - 1 - j, xerr=[[r[f"{m}_median"] - r[f"{m}_lower"]],
                                                                   [r[f"{m}_upper"] - r[f"{m}_median"]]],
                        fmt="s" if r["analysis"] else "o", color=colours(j % 10), capsize=2, ms=4,
                        label=(p + (" (analysis)" if r["analysis"] else "")) if i == 0 else None)
    _effect_axis(ax, measure, WIDE_TICKS)
    reference = rows["comparator"].iloc[0]
    ax.set_yticks(ticks, [labels.get(t, t) for t in treatments])
    ax.set_xlabel(f"{measure.code} versus {labels.get(reference, reference)} (median, 95% CrI{_scale_note(measure)})")
    ax.legend(loc="best", fontsize=7, title="tau prior", title_fontsize=8)
    ax.set_title("Sensitivity to the heterogeneity prior", fontsize=10)
    return fig


def check_figures(checks, folder: Path, labels: dict[str, str] | None = None) -> dict[str, Path]:
    """The model checks' figures (node-split forest, dev-dev plot, heterogeneity-prior sensitivity) saved in `folder`
    as nodesplit, devdev, sensitivity (.png, .svg); the report's caption -> PNG path. `checks`: an
    `nma.checks.model_checks.ModelChecks` (tables nodesplit, ume, sensitivity; None where not run)."""
    images = {}
    if checks.nodesplit is not None:
        images["node-splitting"] = save_figure(nodesplit_forest(checks.nodesplit, checks.measure, labels=labels),
                                               folder / "nodesplit")
    if checks.ume is not None:
        images["dev-dev (consistency vs UME)"] = save_figure(devdev_plot(checks.ume), folder / "devdev")
    if checks.sensitivity is not None:
        images["heterogeneity prior sensitivity"] = save_figure(
            sensitivity_forest(checks.sensitivity, checks.measure, labels=labels), folder / "sensitivity")
    return images
