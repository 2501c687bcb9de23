"""HTML reports: one self-contained page per analysis (images embedded) and an index of all analyses."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from nma.reporting.league import excludes_null, favours_row

_ENV = Environment(loader=PackageLoader("nma.reporting", "templates"), autoescape=select_autoescape(["html"]))


#: Column names as a reader reads them; a column not listed is shown with its underscores as spaces.
COLUMN_NAMES = {"ess_bulk": "ESS (bulk)", "ess_tail": "ESS (tail)", "r_hat": "R-hat", "mcse_mean": "MCSE (mean)",
                "mcse_sd": "MCSE (SD)", "sd": "SD", "p_best": "P(best)", "sucra": "SUCRA", "sucra_lower": "SUCRA lower",
                "sucra_upper": "SUCRA upper", "p_value": "p", "n": "patients", "se": "SE", "y": "y", "pd": "pD",
                "dic": "DIC", "resdev": "residual deviance", "elpd_loo": "ELPD (LOO)", "p_loo": "p (LOO)",
                "pareto_k": "Pareto k"}


def fmt_prob(p: float) -> str:
    """A probability to two decimals, below 0.01 as "<0.01" and above 0.99 as ">0.99" (never "0.00" or "1.00")."""
    if p is None or pd.isna(p):
        return ""
    if p < 0.01:
        return "<0.01"
    if p > 0.99:
        return ">0.99"
    return f"{p:.2f}"


def fmt_cell(v: object, digits: int = 2) -> str:
    """A table cell as a reader reads it: whole numbers without decimals, booleans as yes/no, others to `digits`
    significant decimals (at least 3 significant figures for small numbers)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if float(v).is_integer() and abs(v) < 1e9:
            return str(int(v))
        if abs(v) < 0.01:
            return f"{v:.2g}"
        return f"{v:.{digits}f}"
    return str(v)


_INTERVAL = re.compile(r"\((-?[\d.]+) to (-?[\d.]+)\)")


def keep_interval(text: str) -> str:
    """`text` with each "(lower to upper)" held on one line (no-break spaces): a narrow cell may wrap before the
    interval, never inside it ("0.27 to" on one line and "5.83)" on the next is misread)."""
    return _INTERVAL.sub(lambda m: f"({m[1]}\u00a0to\u00a0{m[2]})", text)


def _table(df: pd.DataFrame, digits: int = 2, names: dict[str, str] | None = None) -> Markup:
    """A DataFrame as an HTML table for the report: readable column names, numbers right-aligned and formatted by
    `fmt_cell`, probabilities (columns p_*, P(...)) by `fmt_prob`, treatment ids replaced by `names`."""
    names = names or {}
    probs = {c for c in df.columns if str(c).startswith(("p_best", "p_rank", "p_value", "P("))}
    head = "".join(f"<th>{Markup.escape(COLUMN_NAMES.get(str(c), str(c).replace('_', ' ')))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row):
            numeric = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            if c == "parameter" and isinstance(v, str):
                v = named(v, names)          # a sampler parameter, d[tdm1]: d[Trastuzumab emtansine (T-DM1)]
            elif c in ("ess_bulk", "ess_tail") and numeric and np.isfinite(v):
                v = int(round(float(v)))     # an effective sample size is a count
            text = fmt_prob(v) if c in probs and numeric else fmt_cell(names.get(v, v) if isinstance(v, str) else v, digits)
            if c == "r_hat" and numeric and np.isfinite(v):
                text = f"{float(v):.3f}"     # against the gate of 1.01: "1" or "1.00" would hide 1.004
            elif str(c).startswith("sucra") and numeric and np.isfinite(v):
                text = f"{float(v):.2f}"     # a SUCRA bound of exactly 1 is "1.00" beside "0.17", not "1"
            text = keep_interval(text)
            cells.append(f"<td class='num'>{Markup.escape(text)}</td>" if numeric else f"<td>{Markup.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return Markup(f"<table><tr>{head}</tr>{''.join(body)}</table>")


def named(text: str, names: dict[str, str]) -> str:
    """`text` with every treatment id (a whole word) replaced by its name, in one pass (a name is never re-read)."""
    ids = sorted((t for t in names if names[t] != t), key=len, reverse=True)
    if not ids:
        return text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
    return pattern.sub(lambda m: names[m.group(1)], text)


def named_html(html: str, names: dict[str, str]) -> Markup:
    """An extension section's HTML with every treatment id in its text replaced by the name (`named`); tags and
    attributes are left as they are. The registry's guarantee that no id is shown where a name exists, whatever a
    section's author formatted (a design "l_cap:tdm1" reads "Lapatinib + capecitabine:Trastuzumab emtansine")."""
    from html import unescape

    html = html if isinstance(html, Markup) else Markup.escape(html)   # plain text is escaped, as the template would
    text = re.sub(r">([^<>]+)<", lambda m: ">" + str(Markup.escape(named(unescape(m[1]), names))) + "<",
                  f">{html}<")
    return Markup(text[1:-1])


def league_html(matrix: pd.DataFrame, long: pd.DataFrame, lower_is_better: bool, direct_upper: bool = False,
                names: dict[str, str] | None = None) -> Markup:
    """The league table as HTML: names (`names`, id -> name) on the diagonal and headers, cells whose interval
    excludes no effect coloured by who is favoured (class fav-row / fav-col, the plots' colours)."""
    names = names or {}
    lookup = {(r["row"], r["column"]): r for r in long.to_dict("records")}
    order = list(matrix.index)
    esc = Markup.escape
    parts = ["<table class='league'><thead><tr><th>row \\ column</th>"
             + "".join(f"<th>{esc(names.get(t, t))}</th>" for t in order) + "</tr></thead><tbody>"]
    for t in order:
        cells = [f"<th>{esc(names.get(t, t))}</th>"]
        for c in order:
            if t == c:
                cells.append(f"<td class='diag'>{esc(names.get(t, t))}</td>")
                continue
            r = lookup[(t, c)]
            cls = ""
            if excludes_null(r) and not (direct_upper and order.index(t) < order.index(c)):
                cls = " class='fav-row'" if favours_row(r, lower_is_better) else " class='fav-col'"
            cells.append(f"<td{cls}>" + "<br>".join(esc(keep_interval(x)) for x in str(matrix.loc[t, c]).split("\n"))
                         + "</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    return Markup("".join(parts) + "</tbody></table>")


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


#: On screen a figure is shown at this many pixels per inch of its matplotlib size (its PNG has plots.DPI), so a
#: 6-inch dev-dev plot is 600 px wide, not stretched to the page's 1100 px with 20-pt labels; never wider than the page.
SCREEN_PX_PER_INCH = 100


def png_width(data: bytes) -> int:
    """Width in pixels of a PNG, from its IHDR chunk (bytes 16-20)."""
    return int.from_bytes(data[16:20], "big")


def render_report(context: dict, images: dict[str, Path]) -> str:
    from nma.reporting.plots import DPI

    raw = {name: Path(p).read_bytes() for name, p in images.items()}
    embedded = {name: base64.b64encode(data).decode("ascii") for name, data in raw.items()}
    ctx = dict(context)
    names = ctx.get("names", {})
    for key in ("evidence_table", "evidence_summary", "diagnostics", "ranks_table", "heterogeneity", "absolute", "fit",
                "nodesplit", "ume", "sensitivity", "companions"):
        if isinstance(ctx.get(key), pd.DataFrame):
            ctx[key] = _table(ctx[key], names=names)
    html = _ENV.get_template("report.html").render(images=embedded, **ctx)
    for name, b64 in embedded.items():
        width = round(png_width(raw[name]) / DPI * SCREEN_PX_PER_INCH)
        html = html.replace(f'src="data:image/png;base64,{b64}"',
                            f'style="width: {width}px" src="data:image/png;base64,{b64}"')
    return html


def _secondary(name: str, n_studies: int) -> bool:
    """Design-document views (seed_*), sensitivity analyses (*_sensitivity_*) and single-trial analyses are listed
    below the main analyses of the index."""
    return name.startswith("seed_") or "_sensitivity_" in name or n_studies <= 1


def write_index(outputs: Path) -> Path:
    """outputs/index.html listing every analysis folder that has a report: engine, model, trials, comparator, the
    best-ranked treatment's effect versus the comparator with its 95% CrI, and the warnings (highest severity
    first); the main analyses first, then the secondary ones (design documents, sensitivity and single-trial)."""
    from nma.errors import rank_warnings

    rows = []
    for run_json in sorted(outputs.glob("*/run.json")):
        folder = run_json.parent
        info = json.loads(run_json.read_text())
        ranks = pd.read_csv(folder / "ranks.csv", dtype={"treatment": str}).sort_values("sucra", ascending=False)
        data = info.get("config", {}).get("data", {})
        net = info.get("network", {})
        ref = str(net.get("reference", ""))
        names = {}
        if (folder / "treatment_names.csv").exists():
            t = pd.read_csv(folder / "treatment_names.csv", dtype=str, keep_default_na=False)
            names = dict(zip(t["id"], t["name"]))
        spec = info.get("spec", {})
        code = spec.get("measure", "HR")
        best = next((t for t in ranks["treatment"] if t != ref), None)
        headline = ""
        if best is not None and (folder / "relative_effects.csv").exists():
            rel = pd.read_csv(folder / "relative_effects.csv", dtype={"treatment": str, "comparator": str})
            r = rel[(rel["treatment"] == best) & (rel["comparator"] == ref)]
            if len(r):
                r = r.iloc[0]
                ratio = code in ("HR", "OR", "RR")
                v = [float(np.exp(r[c])) if ratio else float(r[c]) for c in ("median", "lower", "upper")]
                headline = f"{names.get(best, best)}: {code} {v[0]:.2f} ({v[1]:.2f} to {v[2]:.2f})"
        engine = info.get("engine", "")
        status = ("UNCONVERGED" if not info.get("converged", True) else
                  ("converged" if engine == "mcmc" else "exact (no MCMC)"))
        n_studies = len(net.get("studies", []))
        rows.append({"name": folder.name, "title": info.get("title", folder.name), "setting": data.get("setting", "contrasts"),
                     "outcome": data.get("outcome", ""), "engine": engine,
                     "model": f"{spec.get('effects', '')} effects" + (f", tau ~ {spec['tau_prior']}" if spec.get("tau_prior") else ""),
                     "trials": n_studies, "comparator": names.get(ref, ref), "headline": headline, "status": status,
                     "warnings": [w.label for w in rank_warnings(info.get("warnings", [])) if w.severity != "note"],
                     "secondary": _secondary(folder.name, n_studies)})
    rows.sort(key=lambda r: (r["secondary"], r["setting"], r["outcome"], r["name"]))
    path = outputs / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(_ENV.get_template("index.html").render(main=[r for r in rows if not r["secondary"]],
                                                          secondary=[r for r in rows if r["secondary"]]),
                   encoding="utf-8")
    tmp.replace(path)
    return path
