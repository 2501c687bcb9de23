"""The report's trial-characteristics section: the network's trials, with differing cells marked."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
from conftest import write_data

CHARS = """trial,characteristic,value,analysis,source_id,location,note
T1,phase,3,,s1,Abstract,
T2,phase,3,,s1,Abstract,
T1,hr_positive_percent,40,,s1,Table 1,
T2,hr_positive_percent,80,,s1,Table 1,
"""


def test_report_shows_characteristics_and_marks_differences(tmp_path):
    data = write_data(tmp_path / "data")
    (data / "characteristics.csv").write_text(CHARS, encoding="utf-8")
    cfg = tmp_path / "a.toml"
    cfg.write_text('title = "t"\n[data]\nevidence = "data"\nsetting = "metastatic_first_line"\noutcome = "pfs"\n'
                   '[model]\neffects = "fixed"\nreference = "A"\nengine = "exact"\n', encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "nma", "run", str(cfg), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(tmp_path / "out" / "characteristics.csv").set_index("trial")
    assert list(table.index) == ["T1", "T2"] and table.loc["T2", "hr_positive_percent"] == 80
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    section = html.split('<section id="characteristics">')[1].split("</section>")[0]
    # 40 and 80 lie 20 points from their median 60 (> 15): both marked; the shared phase is not
    assert section.count("<td class='differs'>") == 2
    assert "<td class='differs'>40</td>" in section and "<td class='differs'>80</td>" in section
    assert "<td>3</td>" in section
    assert "each regimen is its own node" in section
