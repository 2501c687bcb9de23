"""Shared fixtures: a small valid data folder that tests mutate one cell at a time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# As the `nma` command does (nma/app/cli.py configure_process): XLA on one thread, before JAX is first imported;
# pytest-xdist's two workers share the two cores.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

ROOT = Path(__file__).resolve().parents[1]

TREATMENTS = """id,label,components,mechanism,dual_blockade
A,Trastuzumab + docetaxel,trastuzumab+docetaxel,antibody,false
B,Pertuzumab + trastuzumab + docetaxel,pertuzumab+trastuzumab+docetaxel,antibody,true
C,Trastuzumab emtansine,trastuzumab emtansine,adc,false
"""
SOURCES = """source_id,citation,year,url,doi,kind
s1,Author A. A trial. Journal 2020;1:1-2.,2020,https://example.org/a,,journal_article
"""
HEADER = ("trial,analysis,data_cut,setting,outcome,outcome_definition,population,arm,arm_role,n,events,hr,"
          "ci_lower,ci_upper,ci_level,p_value,comparator,median_months,rate_percent,rate_time_months,responders,"
          "source_id,location")
EVIDENCE = HEADER + """
T1,primary,2020-01,metastatic_first_line,pfs,,itt,B,experimental,402,191,0.62,0.51,0.75,0.95,<0.001,A,18.5,,,,s1,Table 2
T1,primary,2020-01,metastatic_first_line,pfs,,itt,A,control,406,242,,,,,,,12.4,,,,s1,Table 2
T2,primary,2021-06,metastatic_first_line,pfs,,itt,C,experimental,300,,0.91,0.73,1.13,0.975,,A,14.1,,,,s1,Table 3
T2,primary,2021-06,metastatic_first_line,pfs,,itt,A,control,300,,,,,,,,13.7,,,,s1,Table 3
"""


def write_data(folder: Path, evidence: str = EVIDENCE, treatments: str = TREATMENTS, sources: str = SOURCES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "treatments.csv").write_text(treatments, encoding="utf-8")
    (folder / "sources.csv").write_text(sources, encoding="utf-8")
    (folder / "evidence.csv").write_text(evidence, encoding="utf-8")
    return folder


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return write_data(tmp_path / "data")


def set_cell(text: str, line: int, column: str, value: str) -> str:
    """Change one cell of a CSV text (line numbers as a spreadsheet shows them: header = 1)."""
    lines = text.strip("\n").split("\n")
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """The shipped data/ copied to a temp folder, for tests that must not touch the repository."""
    dest = tmp_path / "project"
    shutil.copytree(ROOT / "data", dest / "data")
    return dest
