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
    assert ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
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
