"""Figures a committee can read: network, forest, rankograms, league heatmap, tau, and ArviZ diagnostics.

Each figure is saved as PNG and SVG; functions return the PNG path.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update({"font.size": 11, "svg.hashsalt": "nma", "svg.fonttype": "none"})


def _save(fig, path: Path) -> Path:
    fig.savefig(path.with_suffix(".png"), dpi=130, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(path.with_suffix(".svg"), bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return path.with_suffix(".png")


def network_plot(contrasts: pd.DataFrame, labels: dict[str, str], dual: dict[str, bool], path: Path) -> Path:
    """Node size ~ patients randomised, edge width ~ number of trials, edges labelled with trial names.

    Kamada-Kawai places linked treatments near each other (fewer crossings than a circle; deterministic),
    and labels sit beside their node on a white box so a printed page stays readable."""
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
    big = len(g) > 5
    fig, ax = plt.subplots(figsize=(11, 8) if big else (8, 5.5))
    widths = [1.5 * len(d["studies"]) + 0.5 for _, _, d in g.edges(data=True)]
    nx.draw_networkx_edges(g, pos, ax=ax, width=widths, edge_color="#9a9a9a")
    colours = ["#d95f02" if dual.get(t, False) else "#1b9e77" for t in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=sizes, node_color=colours, alpha=0.9)
    box = {"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
    for t, size in zip(g.nodes, sizes):
        # the label goes on the side away from the node's neighbours, where no edge or edge label runs
        away = np.asarray(pos[t]) - np.mean([pos[u] for u in g.neighbors(t)], axis=0) if g.degree(t) else np.array([0.0, -1.0])
        away = away / (np.linalg.norm(away) or 1.0)
        r = 10 + 0.5 * np.sqrt(size)
        ax.annotate(textwrap.fill(labels.get(t, t), 22), pos[t], xytext=(r * away[0], r * away[1]), textcoords="offset points",
                    ha="left" if away[0] > 0.4 else "right" if away[0] < -0.4 else "center",
                    va="bottom" if away[1] > 0.4 else "top" if away[1] < -0.4 else "center", fontsize=9, bbox=box)
    nx.draw_networkx_edge_labels(g, pos, ax=ax, font_size=7.5, rotate=False, font_color="#333333",
                                 edge_labels={(a, b): "\n".join(d["studies"]) for a, b, d in g.edges(data=True)},
                                 bbox={**box, "alpha": 0.7})
    ax.set_title("Treatment network\norange: dual HER2 blockade; node area ~ patients randomised; edge width ~ trials",
                 fontsize=10)
    ax.axis("off")
    ax.margins(0.18, 0.2)
    return _save(fig, path)


def forest_plot(rel: pd.DataFrame, comparator: str, path: Path, measure: str = "HR", fixed: pd.DataFrame | None = None,
                labels: dict[str, str] | None = None) -> Path:
    """Every treatment versus `comparator` on a log axis, with the fixed-effect result beside it if given."""
    labels = labels or {}
    rows = rel[rel["comparator"] == comparator].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.5))
    y = np.arange(len(rows))[::-1]
    ax.errorbar(rows["exp_median"], y, xerr=[rows["exp_median"] - rows["exp_lower"], rows["exp_upper"] - rows["exp_median"]],
                fmt="s", color="black", capsize=3, label="network estimate (95% CrI)")
    if "exp_pred_lower" in rows:
        ax.hlines(y + 0.2, rows["exp_pred_lower"], rows["exp_pred_upper"], color="grey", lw=1.5,
                  label="95% predictive interval (new trial)")
    if fixed is not None:
        f = fixed[fixed["comparator"] == comparator].set_index("treatment").loc[rows["treatment"]]
        ax.errorbar(f["exp_median"], y - 0.25, xerr=[f["exp_median"] - f["exp_lower"], f["exp_upper"] - f["exp_median"]],
                    fmt="o", color="#1f78b4", capsize=3, label="fixed effect")
    _log_hr_axis(ax)
    ax.set_ylim(-0.75, len(rows) - 0.25)
    ax.set_yticks(y, [labels.get(t, t) for t in rows["treatment"]])
    ax.set_xlabel(f"{measure} versus {labels.get(comparator, comparator)} (log scale)")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def rankograms(rank_table: pd.DataFrame, path_rank: Path, path_cum: Path) -> tuple[Path, Path]:
    cols = [c for c in rank_table.columns if c.startswith("p_rank_")]
    k = np.arange(1, len(cols) + 1)
    out = []
    for cumulative, path in ((False, path_rank), (True, path_cum)):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for _, r in rank_table.iterrows():
            p = r[cols].to_numpy(float)
            ax.plot(k, np.cumsum(p) if cumulative else p, marker="o", label=f"{r['treatment']} (SUCRA {r['sucra']:.2f})")
        ax.set_xticks(k)
        ax.set_xlabel("rank (1 = best)")
        ax.set_ylabel("P(rank <= k)" if cumulative else "P(rank = k)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
        ax.set_title("Cumulative rankogram" if cumulative else "Rankogram")
        out.append(_save(fig, path))
    return out[0], out[1]


def league_heatmap(long: pd.DataFrame, order: list[str], path: Path, measure: str = "HR") -> Path:
    m = long.pivot(index="row", columns="column", values="median").reindex(index=order, columns=order)
    logm = np.log(m.to_numpy(float))
    lim = np.nanmax(np.abs(logm)) if np.isfinite(logm).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.1 * len(order) + 2.5, 1.0 * len(order) + 1.5))
    im = ax.imshow(logm, cmap="RdBu", vmin=-lim, vmax=lim)
    for i in range(len(order)):
        for j in range(len(order)):
            if i != j:
                ax.text(j, i, f"{m.iloc[i, j]:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel("column treatment")
    ax.set_ylabel("row treatment")
    fig.colorbar(im, ax=ax, label=f"log {measure}, row vs column")
    ax.set_title(f"{measure} of row vs column (median)")
    return _save(fig, path)


def tau_plot(tau_draws: np.ndarray, prior, path: Path, measure: str = "HR") -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    hi = float(np.quantile(tau_draws, 0.995)) * 1.2
    ax.hist(tau_draws, bins=60, range=(0, hi), density=True, alpha=0.6, label="posterior")
    grid = np.linspace(1e-4, hi, 400)
    ax.plot(grid, np.exp(prior.logpdf(grid)), color="black", label=f"prior: {prior.text}")
    ax.set_xlabel(f"tau (between-trial SD of the log-{measure})")
    ax.set_ylabel("density")
    ax.legend()
    return _save(fig, path)


def arviz_plots(idata, var_names: list[str], path_trace: Path, path_rank: Path) -> tuple[Path, Path]:
    import arviz as az

    axes = az.plot_trace(idata, var_names=var_names, compact=True)
    trace = _save(np.ravel(axes)[0].figure, path_trace)
    axes = az.plot_rank(idata, var_names=var_names)
    rank = _save(np.ravel(axes)[0].figure, path_rank)
    return trace, rank


#: Node-split and sensitivity intervals span more than the network's (single-trial direct estimates).
WIDE_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _log_hr_axis(ax, ticks: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)) -> None:
    """Ratio axis: log scale, plain tick labels, a dashed line at no effect."""
    ax.axvline(1.0, color="grey", ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    lo, hi = ax.get_xlim()
    ax.set_xticks([t for t in ticks if lo <= t <= hi])


def nodesplit_forest(table: pd.DataFrame, path: Path, measure: str = "HR", labels: dict[str, str] | None = None) -> Path:
    """Direct, indirect and network estimate of each split comparison, with the inconsistency p-value."""
    labels = labels or {}
    est = table[table["estimate"].isin(["direct", "indirect", "network"])]
    comps = list(dict.fromkeys(zip(est["treatment"], est["comparator"])))
    style = {"direct": ("o", "#1b9e77"), "indirect": ("^", "#d95f02"), "network": ("s", "black")}
    fig, ax = plt.subplots(figsize=(7.5, 1.0 * len(comps) + 1.5))
    ticks, names = [], []
    for i, (t, c) in enumerate(comps):
        base = 4 * (len(comps) - 1 - i)
        rows = est[(est["treatment"] == t) & (est["comparator"] == c)].set_index("estimate")
        for k, name in enumerate(("direct", "indirect", "network")):
            r = rows.loc[name]
            marker, colour = style[name]
            ax.errorbar(r["exp_median"], base + 2 - k, xerr=[[r["exp_median"] - r["exp_lower"]], [r["exp_upper"] - r["exp_median"]]],
                        fmt=marker, color=colour, capsize=3, label=name if i == 0 else None)
        ticks.append(base + 1)
        names.append(f"{labels.get(t, t)} vs {labels.get(c, c)}\np = {rows['p_value'].iloc[0]:.2f}")
    _log_hr_axis(ax, WIDE_TICKS)
    ax.set_yticks(ticks, names, fontsize=9)
    ax.set_xlabel(f"{measure} (median, 95% CrI; log scale); p: Bayesian p-value for direct vs indirect")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Node-splitting", fontsize=10)
    return _save(fig, path)


def devdev_plot(ume: pd.DataFrame, path: Path) -> Path:
    """Per-study residual deviance, consistency (x) vs UME (y): points well below the line fit worse under consistency."""
    per = ume[ume["study"] != "TOTAL"]
    x, y = per["resdev_consistency"].to_numpy(float), per["resdev_ume"].to_numpy(float)
    top = 1.05 * max(x.max(), y.max(), 1.0)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot([0, top], [0, top], color="grey", ls="--", label="line of equality")
    ax.scatter(x, y, color="#1f78b4", zorder=3)
    for s, a, b in zip(per["study"], x, y):
        ax.annotate(str(s), (a, b), textcoords="offset points", xytext=(4, 3), fontsize=8)
    tot = ume[ume["study"] == "TOTAL"].iloc[0]
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"residual deviance, consistency model (DIC {tot['dic_consistency']:.1f})")
    ax.set_ylabel(f"residual deviance, UME model (DIC {tot['dic_ume']:.1f})")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Dev-dev plot (posterior mean residual deviance per study)", fontsize=10)
    return _save(fig, path)


def sensitivity_forest(table: pd.DataFrame, path: Path, measure: str = "HR", labels: dict[str, str] | None = None) -> Path:
    """HR of each treatment versus the reference under every tau prior and fixed effect, grouped by treatment."""
    labels = labels or {}
    m = measure.lower()   # sensitivity.csv names its columns after the measure: hr_median, or_median
    rows = table[table[f"{m}_median"].notna()]
    priors = list(dict.fromkeys(rows["prior"]))
    treatments = list(dict.fromkeys(rows["treatment"]))
    colours = plt.get_cmap("tab10")
    k = len(priors)
    fig, ax = plt.subplots(figsize=(7.5, 0.25 * k * len(treatments) + 0.6 * len(treatments) + 1.5))
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
    _log_hr_axis(ax, WIDE_TICKS)
    reference = rows["comparator"].iloc[0]
    ax.set_yticks(ticks, [labels.get(t, t) for t in treatments])
    ax.set_xlabel(f"{measure} versus {labels.get(reference, reference)} (median, 95% CrI; log scale)")
    ax.legend(loc="best", fontsize=7, title="tau prior", title_fontsize=8)
    ax.set_title("Sensitivity to the heterogeneity prior", fontsize=10)
    return _save(fig, path)
