"""League tables: every pairwise effect, row treatment versus column treatment, in CSV, XLSX, HTML and Markdown.

A ratio measure (HR, OR) is shown exponentiated, with 1 as 'no difference'; a difference measure (MD, SMD) as
it is, with 0 (Measure.to_shown and Measure.null). Orientation is the thing users misread, so it is fixed in one
place (`caption`) and written into every file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nma.constants import COMPARATOR, TREATMENT
from nma.core.measures import Measure, measure_of

FMT = "{median:.2f} ({lower:.2f} to {upper:.2f})"


def caption(measure: str | Measure = "HR", lower_is_better: bool = True, with_prob: bool = True,
            direct_upper: bool = False) -> str:
    m = measure_of(measure)
    null = f"{m.null:g}"
    favour = f"below {null}" if lower_is_better else f"above {null}"
    if m.is_ratio:
        what = f"the {m.code} of the ROW treatment versus the COLUMN treatment"
    else:
        what = f"the {m.code} ({m.name}) of the ROW treatment minus the COLUMN treatment"
    text = (f"Each cell is {what}: posterior median (95% credible interval). {m.code} {favour} favours the row "
            "treatment.")
    if with_prob:
        text += " Second line: probability that the row treatment is better than the column treatment."
    if direct_upper:
        text += (" Below the diagonal: network estimates (direct and indirect evidence). Above the diagonal: direct "
                 "evidence only (the same model fitted to the trials comparing the pair; '-' where none), with the "
                 "same row-versus-column orientation.")
    return text


def excludes_column(measure: str | Measure = "HR") -> str:
    """Name of the long table's 'the 95% CrI excludes no difference' column: excludes_1 (ratio), excludes_0."""
    return f"excludes_{measure_of(measure).null:g}"


def shown_scale(rel: pd.DataFrame, measure: str | Measure = "HR") -> pd.DataFrame:
    """Relative effects (model scale: log for a ratio) as row/column estimates on the shown scale."""
    m = measure_of(measure)
    return pd.DataFrame({"row": rel[TREATMENT], "column": rel[COMPARATOR], "median": m.to_shown(rel["median"]),
                         "lower": m.to_shown(rel["lower"]), "upper": m.to_shown(rel["upper"])})


#: The former name, from when every measure was a ratio.
ratio_scale = shown_scale


def league_long(rel: pd.DataFrame, p_better: np.ndarray | None, treatments: tuple[str, ...],
                measure: str | Measure = "HR") -> pd.DataFrame:
    """One row per ordered pair (row = treatment, column = comparator) on the shown scale (the ratio for HR, OR;
    the difference itself for MD), with P(row better) and whether the 95% CrI excludes no difference.
    Read from the model-scale median/lower/upper, so it needs no exp_* columns."""
    m = measure_of(measure)
    out = shown_scale(rel, m)
    if p_better is not None:
        idx = {t: i for i, t in enumerate(treatments)}
        out["p_row_better"] = [p_better[idx[r], idx[c]] for r, c in zip(out["row"], out["column"])]
    out[excludes_column(m)] = (out["lower"] > m.null) | (out["upper"] < m.null)
    return out.reset_index(drop=True)


def excludes_null(record: dict) -> bool:
    """Whether a league_long row's CrI excludes no difference (whichever the measure's null is)."""
    return bool(record["excludes_1"] if "excludes_1" in record else record["excludes_0"])


def favours_row(record: dict, lower_is_better: bool) -> bool:
    """A league_long row whose CrI excludes no difference: does it favour the row treatment?"""
    null = 1.0 if "excludes_1" in record else 0.0
    return record["upper"] < null if lower_is_better else record["lower"] > null


def league_matrix(long: pd.DataFrame, order: list[str], with_prob: bool = True,
                  direct: pd.DataFrame | None = None) -> pd.DataFrame:
    """Square matrix of cell strings in `order`; the diagonal holds the treatment name, as netmeta's does.

    With `direct` (ratio-scale columns median, lower, upper per row/column pair), cells above the diagonal show
    the direct-evidence-only estimate instead, as netmeta's netleague does."""
    cells = {(r["row"], r["column"]): FMT.format(**r) + (f"\nP = {r['p_row_better']:.2f}" if with_prob and "p_row_better" in r else "")
             for r in long.to_dict("records")}
    upper = {}
    if direct is not None:
        upper = {(r["row"], r["column"]): FMT.format(**r) + " [direct]" for r in direct.to_dict("records")}
    pos = {t: i for i, t in enumerate(order)}

    def cell(t, c):
        if t == c:
            return t
        if direct is not None and pos[t] < pos[c]:
            return upper.get((t, c), "-")
        return cells[(t, c)]

    return pd.DataFrame([[cell(t, c) for c in order] for t in order], index=order, columns=order)


def write_csv(long: pd.DataFrame, matrix: pd.DataFrame, outdir: Path) -> None:
    long.to_csv(outdir / "league_table.csv", index=False, lineterminator="\n")
    matrix.rename_axis("row \\ column").to_csv(outdir / "league_table_matrix.csv", lineterminator="\n")


def write_xlsx(long: pd.DataFrame, matrix: pd.DataFrame, path: Path, text: str, footnotes: list[str],
               lower_is_better: bool = True, direct_upper: bool = False) -> None:
    """Formatted workbook: caption on top, frozen header, cells shaded where the CrI excludes no difference."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    favour_row = PatternFill("solid", fgColor="C6EFCE")    # green: CrI excludes no difference, favours the row treatment
    favour_col = PatternFill("solid", fgColor="FFC7CE")    # red: CrI excludes no difference, favours the column treatment
    diag = PatternFill("solid", fgColor="D9D9D9")
    lookup = {(r["row"], r["column"]): r for r in long.to_dict("records")}
    wb = Workbook()
    ws = wb.active
    ws.title = "League table"
    ws["A1"] = text
    ws["A1"].font = Font(bold=True)
    order = list(matrix.index)
    header_row = 3
    ws.cell(header_row, 1, "row \\ column").font = Font(bold=True)
    for j, t in enumerate(order, start=2):
        ws.cell(header_row, j, t).font = Font(bold=True)
    for i, t in enumerate(order, start=header_row + 1):
        ws.cell(i, 1, t).font = Font(bold=True)
        for j, c in enumerate(order, start=2):
            cell = ws.cell(i, j, matrix.loc[t, c])
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if t == c:
                cell.fill = diag
            elif direct_upper and order.index(t) < order.index(c):
                continue  # direct-only cells are not shaded: shading describes the network estimate
            elif excludes_null(lookup[(t, c)]):
                cell.fill = favour_row if favours_row(lookup[(t, c)], lower_is_better) else favour_col
    ws.freeze_panes = ws.cell(header_row + 1, 2)
    ws.column_dimensions["A"].width = 18
    for j in range(2, len(order) + 2):
        ws.column_dimensions[ws.cell(header_row, j).column_letter].width = 24
    row = header_row + len(order) + 2
    null = "1" if "excludes_1" in long else "0"
    for note in [f"Green: 95% CrI excludes {null} and favours the row treatment; red: favours the column treatment.",
                 *footnotes]:
        ws.cell(row, 1, note)
        row += 1
    data = wb.create_sheet("Pairs (long)")
    data.append(list(long.columns))
    for rec in long.itertuples(index=False):
        data.append([bool(v) if isinstance(v, np.bool_) else (float(v) if isinstance(v, np.floating) else v) for v in rec])
    data.freeze_panes = "A2"
    wb.save(path)


def to_markdown(matrix: pd.DataFrame, text: str) -> str:
    order = list(matrix.index)
    lines = [text, "", "| row \\ column | " + " | ".join(order) + " |", "|---" * (len(order) + 1) + "|"]
    for t in order:
        lines.append(f"| **{t}** | " + " | ".join(str(matrix.loc[t, c]).replace("\n", "<br>") for c in order) + " |")
    return "\n".join(lines) + "\n"
