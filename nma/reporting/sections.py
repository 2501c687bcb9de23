"""Report sections contributed by extensions (frequentist companion, meta-regression, threshold analysis, ...).

Each extension writes one module with a function ``section(d) -> Section | None`` taking the run's `Deliverables`
and registers it in `PRODUCERS`; the report renders the sections in that order after the checks, the table of
contents lists them, their tables are written as CSV files and as sheets of the league-table workbook. A producer
returns None when it does not apply to the run (a binomial analysis has no frequentist GLS companion, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Callable

import pandas as pd


@dataclass(frozen=True)
class Section:
    """One report section.

    id: the HTML anchor (also the prefix of its files); title: the heading; html: the body (already escaped, as a
    ``markupsafe.Markup`` or plain text that the template escapes); tables: CSV file name -> table, written to the
    outputs folder; sheets: sheet name (at most 31 characters) -> table, appended to ``league_table.xlsx``; figures:
    figure name -> PNG path, embedded in the section (captions in ``captions``); notes: warnings to list with the run's.
    """

    id: str
    title: str
    html: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sheets: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


#: Producers as "module:function" in the order their sections appear (imported lazily: a run pays only for what it
#: uses, and an extension's heavy imports stay out of runs it does not apply to).
PRODUCERS: tuple[str, ...] = ("nma.reporting.section_regression:section", "nma.reporting.section_regression:class_section",
                              "nma.reporting.section_threshold:section", "nma.reporting.section_frequentist:section")


def producers() -> list[Callable]:
    out = []
    for spec in PRODUCERS:
        module, _, name = spec.partition(":")
        out.append(getattr(import_module(module), name))
    return out


def collect(deliverables) -> list[Section]:
    """Every registered section that applies to this run, in order."""
    return [s for f in producers() if (s := f(deliverables)) is not None]


def place_figures(folder: Path, sections: list[Section]) -> list[Section]:
    """Move the sections' figures (PNG and the SVG beside it, wherever a producer saved them) into the analysis's
    figures folder; the sections returned point at the moved PNGs."""
    import shutil
    from dataclasses import replace

    out = []
    for s in sections:
        moved = {}
        for name, png in s.figures.items():
            png = Path(png)
            for src in (png, png.with_suffix(".svg")):
                if src.is_file() and src.parent != folder:
                    shutil.move(str(src), str(folder / src.name))
            moved[name] = folder / png.name
        out.append(replace(s, figures=moved))
    return out


def write_sheets(path: Path, sections: list[Section]) -> None:
    """Append the sections' sheets to an existing workbook (header row bold, frozen, numbers to 4 significant
    digits shown as stored)."""
    sheets = [(name, df) for s in sections for name, df in s.sheets.items()]
    if not sheets:
        return
    from openpyxl import load_workbook
    from openpyxl.styles import Font

    wb = load_workbook(path)
    for name, df in sheets:
        ws = wb.create_sheet(name[:31])
        ws.append([str(c) for c in df.columns])
        for rec in df.itertuples(index=False):
            ws.append([v.item() if hasattr(v, "item") else v for v in rec])
        for j in range(1, len(df.columns) + 1):
            ws.cell(1, j).font = Font(bold=True)
            ws.column_dimensions[ws.cell(1, j).column_letter].width = 16
        ws.freeze_panes = "A2"
    wb.save(path)
