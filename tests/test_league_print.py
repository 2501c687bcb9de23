"""The XLSX league table prints landscape, one page wide, one line per cell, row heights set (issue 15)."""

import numpy as np
import pandas as pd
from openpyxl import load_workbook

from nma.reporting import league


def _long(order):
    rows = [{"row": r, "column": c, "median": 0.8, "lower": 0.6, "upper": 1.1, "p_row_better": 0.004,
             "excludes_1": False} for r in order for c in order if r != c]
    return pd.DataFrame(rows)


def test_xlsx_print_setup_row_heights_and_names(tmp_path):
    order = [f"t{i}" for i in range(9)]
    names = {t: f"Treatment number {i} with a long name" for i, t in enumerate(order)}
    long = _long(order)
    matrix = league.league_matrix(long, order)
    path = tmp_path / "league.xlsx"
    league.write_xlsx(long, matrix, path, "caption " * 60, ["footnote"], names=names, abbreviations={"HR": "hazard ratio"})
    wb = load_workbook(path)
    ws = wb["League table"]
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 1 and ws.sheet_properties.pageSetUpPr.fitToPage   # 9x9: one page
    assert ws.print_title_rows.replace("$", "") == "3:3" and ws.print_title_cols.replace("$", "") == "A:A"
    assert "A1:J1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws.row_dimensions[1].height >= 2 * league.LINE_POINTS   # the wrapped caption gets its lines
    for i in range(4, 13):
        assert ws.row_dimensions[i].height >= league.LINE_POINTS
        assert ws.cell(i, i - 2).value == names[order[i - 4]]       # full names on the diagonal
        assert all("\n" not in str(ws.cell(i, j).value) for j in range(2, 11))   # one line per cell
    assert wb["P(row better)"].cell(4, 3).value == "<0.01"
    assert wb["Pairs (long)"].cell(2, 3).number_format == "0.00"
    assert np.isclose(wb["Pairs (long)"].cell(2, 3).value, 0.8)


def test_row_heights_hold_every_wrapped_cell_and_large_tables_run_over_pages(tmp_path):
    """Short names, direct cells of 28 characters in 20-character columns: each row is as tall as its tallest cell
    wrapped at its column's width (counted here with textwrap), so no cell is clipped or overlaps the next row."""
    import textwrap

    order = [f"T{i}" for i in range(14)]
    long = _long(order)
    direct = long.assign(median=0.73, lower=0.56, upper=0.94)
    matrix = league.league_matrix(long, order, direct=direct)
    path = tmp_path / "league.xlsx"
    league.write_xlsx(long, matrix, path, "caption", [], direct_upper=True)
    ws = load_workbook(path)["League table"]
    assert ws.cell(4, 3).value == "0.73 (0.56 to 0.94) [direct]"
    for i in range(4, 4 + len(order)):
        widths = [ws.column_dimensions[ws.cell(3, j).column_letter].width for j in range(1, len(order) + 2)]
        lines = [len(textwrap.wrap(str(ws.cell(i, j).value), int(w) - 1)) for j, w in enumerate(widths, start=1)]
        assert ws.row_dimensions[i].height >= league.LINE_POINTS * max(lines)
    assert max(lines) == 1 and ws.row_dimensions[4].height == 2 * league.LINE_POINTS   # last row: no direct cell
    assert ws.page_setup.fitToHeight == 0 and ws.page_setup.fitToWidth == 1       # 14 treatments: pages, one wide
