"""HTML reports: one self-contained page per analysis (images embedded) and an index of all analyses."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from nma.reporting.league import excludes_null, favours_row

_ENV = Environment(loader=PackageLoader("nma.reporting", "templates"), autoescape=select_autoescape(["html"]))


def _table(df: pd.DataFrame, digits: int = 3) -> Markup:
    return Markup(df.to_html(index=False, float_format=lambda v: f"{v:.{digits}f}", border=0, na_rep=""))


def league_html(matrix: pd.DataFrame, long: pd.DataFrame, lower_is_better: bool, direct_upper: bool = False) -> Markup:
    lookup = {(r["row"], r["column"]): r for r in long.to_dict("records")}
    order = list(matrix.index)
    parts = ["<table class='league'><tr><th>row \\ column</th>" + "".join(f"<th>{t}</th>" for t in order) + "</tr>"]
    for t in order:
        cells = [f"<th>{t}</th>"]
        for c in order:
            if t == c:
                cells.append(f"<td class='diag'>{t}</td>")
                continue
            r = lookup[(t, c)]
            cls = ""
            if excludes_null(r) and not (direct_upper and order.index(t) < order.index(c)):
                cls = " class='fav-row'" if favours_row(r, lower_is_better) else " class='fav-col'"
            cells.append(f"<td{cls}>" + str(matrix.loc[t, c]).replace("\n", "<br>") + "</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    return Markup("".join(parts) + "</table>")


def characteristics_html(table: pd.DataFrame, flags: pd.DataFrame) -> Markup:
    """Trial characteristics with the cells that differ from the rest of the network marked (class 'differs'),
    BUGSnet-style, so a committee sees at a glance where transitivity may fail. Empty columns are dropped."""
    keep = [c for c in table.columns if table[c].notna().any()]
    show = table[keep].reset_index()
    marks = flags[keep].reset_index(drop=True)
    fmt = lambda v: "" if pd.isna(v) else (f"{v:g}" if isinstance(v, float) else str(v))  # noqa: E731
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in show.columns)
    body = []
    for i, row in show.iterrows():
        cells = [f"<th>{row.iloc[0]}</th>"]
        for c in keep:
            cls = " class='differs'" if bool(marks.at[i, c]) else ""
            cells.append(f"<td{cls}>{Markup.escape(fmt(row[c]))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return Markup(f"<table class='characteristics'><tr>{head}</tr>{''.join(body)}</table>")


def render_league(title: str, caption: str, table: Markup, footnotes: list[str]) -> str:
    return _ENV.get_template("league_table.html").render(title=title, caption=caption, table=table, footnotes=footnotes)


def render_report(context: dict, images: dict[str, Path]) -> str:
    embedded = {name: base64.b64encode(Path(p).read_bytes()).decode("ascii") for name, p in images.items()}
    ctx = dict(context)
    for key in ("evidence_table", "diagnostics", "ranks_table", "heterogeneity", "absolute", "fit", "nodesplit", "ume",
                "sensitivity", "companions"):
        if isinstance(ctx.get(key), pd.DataFrame):
            ctx[key] = _table(ctx[key])
    return _ENV.get_template("report.html").render(images=embedded, **ctx)


def write_index(outputs: Path) -> Path:
    """outputs/index.html linking every analysis folder that has a report, with its headline ranking."""
    rows = []
    for run_json in sorted(outputs.glob("*/run.json")):
        folder = run_json.parent
        info = json.loads(run_json.read_text())
        ranks = pd.read_csv(folder / "ranks.csv", dtype={"treatment": str}).sort_values("sucra", ascending=False)
        data = info.get("config", {}).get("data", {})
        rows.append({"name": folder.name, "title": info.get("title", folder.name), "setting": data.get("setting", "contrasts"),
                     "outcome": data.get("outcome", ""),
                     "ranking": ", ".join(f"{t} ({s:.2f})" for t, s in zip(ranks["treatment"], ranks["sucra"])),
                     "status": "converged" if info.get("converged", True) else "UNCONVERGED"})
    rows.sort(key=lambda r: (r["setting"], r["outcome"], r["name"]))
    path = outputs / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(_ENV.get_template("index.html").render(analyses=rows), encoding="utf-8")
    tmp.replace(path)
    return path
