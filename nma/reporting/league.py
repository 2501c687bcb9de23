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
        from nma.models.exact import DIRECT_RULE

        text += (" Below the diagonal: network estimates (direct and indirect evidence). Above the diagonal: direct "
                 "evidence only ('-' where none), with the same row-versus-column orientation. " + DIRECT_RULE)
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


#: Excel's default row height in points (one line of 11-pt Calibri); wrapped cells get one of these per line.
LINE_POINTS = 15.0
#: Column widths in characters: the row-name column and each treatment column. Ten treatments of 20 characters fit
#: one landscape A4 page wide after Excel's fit-to-width scaling without the text becoming unreadable.
NAME_WIDTH, CELL_WIDTH = 30, 20
#: Up to this many treatments the league table prints on one landscape A4 page (scaled to fit, still legible).
FIT_ONE_PAGE = 12


def _lines(text: str, width: int) -> int:
    """How many lines `text` takes when wrapped at `width` characters (what Excel will not compute for us)."""
    import textwrap

    return max(1, sum(len(textwrap.wrap(part, max(1, width - 1))) or 1 for part in str(text).split("\n")))


def _prob_text(p: float) -> str:
    return "<0.01" if p < 0.01 else (">0.99" if p > 0.99 else f"{p:.2f}")


def league_cells(long: pd.DataFrame, matrix: pd.DataFrame, names: dict[str, str] | None = None,
                 prob: bool = False) -> pd.DataFrame:
    """The league table with one line per cell: the effect and CrI (the first line of `matrix`), or with `prob` the
    probability that the row is better ("<0.01" below 0.01); full names on the diagonal and as index and columns."""
    names = names or {}
    order = list(matrix.index)
    p = {(r["row"], r["column"]): r.get("p_row_better") for r in long.to_dict("records")}

    def cell(t, c):
        if t == c:
            return names.get(t, t)
        if prob:
            v = p.get((t, c))
            return "" if v is None or pd.isna(v) else _prob_text(float(v))
        return str(matrix.loc[t, c]).split("\n")[0]

    full = [names.get(t, t) for t in order]
    return pd.DataFrame([[cell(t, c) for c in order] for t in order], index=full, columns=full)


def write_xlsx(long: pd.DataFrame, matrix: pd.DataFrame, path: Path, text: str, footnotes: list[str],
               lower_is_better: bool = True, direct_upper: bool = False, names: dict[str, str] | None = None,
               abbreviations: dict[str, str] | None = None) -> None:
    """A workbook to paste into a dossier: the league table (one line per cell: effect and 95% CrI), P(row better) as
    a second sheet of the same shape, and every pair in long form with number formats.

    Each table sheet has full treatment names on the diagonal and as headers, a merged wrapped caption above it
    (`text`: orientation, model, priors, CrI level), the abbreviations and `footnotes` beneath; it prints landscape on
    A4, one page wide, with the header row and the name column repeated on every page, and its row heights are set
    from the wrapped text (Excel does not compute them for files it did not write). Cells whose CrI excludes no
    difference are shaded: green favours the row, pink the column (the plots' colours)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.properties import PageSetupProperties

    names = names or {}
    favour_row = PatternFill("solid", fgColor="C6EFCE")    # green: CrI excludes no difference, favours the row treatment
    favour_col = PatternFill("solid", fgColor="FFC7CE")    # pink: CrI excludes no difference, favours the column
    diag = PatternFill("solid", fgColor="D9D9D9")
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    lookup = {(r["row"], r["column"]): r for r in long.to_dict("records")}
    order = list(matrix.index)
    n = len(order)
    null = "1" if "excludes_1" in long else "0"
    wb = Workbook()
    sheets = [(wb.active, "League table", league_cells(long, matrix, names), text)]
    if "p_row_better" in long:
        sheets.append((wb.create_sheet(), "P(row better)", league_cells(long, matrix, names, prob=True),
                       "Probability that the ROW treatment is better than the COLUMN treatment (posterior; "
                       "'<0.01' below 0.01). Same rows, columns and model as the league table."))
    total_width = NAME_WIDTH + CELL_WIDTH * n
    for ws, title, table, caption_text in sheets:
        ws.title = title
        last = ws.cell(1, n + 1).column_letter
        ws.merge_cells(f"A1:{last}1")
        ws["A1"] = caption_text
        ws["A1"].font = Font(bold=True)
        ws["A1"].alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[1].height = LINE_POINTS * _lines(caption_text, int(total_width * 1.1))
        header_row = 3
        head = ws.cell(header_row, 1, "row \\ column")
        head.font, head.border = Font(bold=True), box
        for j, name in enumerate(table.columns, start=2):
            c = ws.cell(header_row, j, name)
            c.font, c.border = Font(bold=True), box
            c.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        ws.row_dimensions[header_row].height = LINE_POINTS * max(_lines(t, CELL_WIDTH) for t in table.columns)
        for i, (t, rname) in enumerate(zip(order, table.index), start=header_row + 1):
            c = ws.cell(i, 1, rname)
            c.font, c.border = Font(bold=True), box
            c.alignment = Alignment(wrap_text=True, vertical="center")
            for j, col in enumerate(order, start=2):
                cell = ws.cell(i, j, table.iloc[i - header_row - 1, j - 2])
                cell.border = box
                cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
                if t == col:
                    cell.fill, cell.font = diag, Font(bold=True)
                elif direct_upper and order.index(t) < order.index(col):
                    continue  # direct-only cells are not shaded: shading describes the network estimate
                elif excludes_null(lookup[(t, col)]):
                    cell.fill = favour_row if favours_row(lookup[(t, col)], lower_is_better) else favour_col
            cells = [str(v) for v in table.iloc[i - header_row - 1]]   # a direct cell ("... [direct]") wraps too
            ws.row_dimensions[i].height = LINE_POINTS * max(_lines(rname, NAME_WIDTH), *(_lines(v, CELL_WIDTH) for v in cells))
        ws.freeze_panes = ws.cell(header_row + 1, 2)
        ws.column_dimensions["A"].width = NAME_WIDTH
        for j in range(2, n + 2):
            ws.column_dimensions[ws.cell(header_row, j).column_letter].width = CELL_WIDTH
        row = header_row + n + 2
        notes = [f"Shading: green, the 95% CrI excludes {null} and favours the row treatment; pink, it favours the "
                 "column treatment; no shading, the CrI includes " + null + ".", *footnotes]
        if abbreviations:
            notes.append("Abbreviations: " + "; ".join(f"{k}, {v}" for k, v in abbreviations.items()) + ".")
        for note in notes:
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=n + 1)
            ws.cell(row, 1, note).alignment = Alignment(wrap_text=True, vertical="top")
            ws.row_dimensions[row].height = LINE_POINTS * _lines(note, int(total_width * 1.1))
            row += 1
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        # up to FIT_ONE_PAGE treatments the table is scaled to one page (a 9x9 table otherwise left its last row
        # alone on a second page in LibreOffice); larger ones run on over pages, one page wide, titles repeated
        ws.page_setup.fitToHeight = 1 if n <= FIT_ONE_PAGE else 0
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.print_title_rows = f"{header_row}:{header_row}"
        ws.print_title_cols = "A:A"
        ws.print_area = f"A1:{last}{row - 1}"
        ws.page_margins.left = ws.page_margins.right = 0.4
    data = wb.create_sheet("Pairs (long)")
    cols = list(long.columns)
    data.append(cols)
    formats = {"median": "0.00", "lower": "0.00", "upper": "0.00", "p_row_better": "0.000"}
    for rec in long.itertuples(index=False):
        data.append([bool(v) if isinstance(v, np.bool_) else (float(v) if isinstance(v, np.floating) else v) for v in rec])
    for j, col in enumerate(cols, start=1):
        letter = data.cell(1, j).column_letter
        data.column_dimensions[letter].width = 14
        data.cell(1, j).font = Font(bold=True)
        if col in formats:
            for r in range(2, len(long) + 2):
                data.cell(r, j).number_format = formats[col]
    data.freeze_panes = "A2"
    wb.save(path)


def write_docx(long: pd.DataFrame, matrix: pd.DataFrame, path: Path, text: str, footnotes: list[str],
               names: dict[str, str] | None = None, abbreviations: dict[str, str] | None = None) -> None:
    """The league table (one line per cell, full names on the diagonal) as a Word document in landscape A4, with its
    caption above and the abbreviations and `footnotes` beneath, for reports written in Word (python-docx)."""
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm, Pt

    table = league_cells(long, matrix, names)
    doc = docx.Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    section.left_margin = section.right_margin = section.top_margin = section.bottom_margin = Mm(12)
    doc.add_paragraph().add_run(text).bold = True
    grid = doc.add_table(rows=len(table) + 1, cols=len(table) + 1)
    grid.style = "Table Grid"
    size = Pt(7 if len(table) > 7 else 8)
    values = [["row \\ column", *table.columns]] + [[name, *row] for name, row in zip(table.index, table.to_numpy())]
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            run = grid.cell(i, j).paragraphs[0].add_run(str(value))
            run.font.size = size
            run.bold = i == 0 or j == 0 or i == j
    for note in [*footnotes, *(["Abbreviations: " + "; ".join(f"{k}, {v}" for k, v in abbreviations.items()) + "."]
                               if abbreviations else [])]:
        doc.add_paragraph(note).runs[0].font.size = Pt(8)
    doc.save(path)


def to_markdown(matrix: pd.DataFrame, text: str, names: dict[str, str] | None = None) -> str:
    """The league table in Markdown, treatments by `names` (id -> name) in the headers and on the diagonal."""
    names = names or {}
    order = list(matrix.index)
    full = [names.get(t, t) for t in order]
    lines = [text, "", "| row \\ column | " + " | ".join(full) + " |", "|---" * (len(order) + 1) + "|"]
    for t, name in zip(order, full):
        cells = [name if t == c else str(matrix.loc[t, c]).replace("\n", "<br>") for c in order]
        lines.append(f"| **{name}** | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
