"""`nma check` exits non-zero on bad evidence, names file/row/column, and writes nothing to outputs/."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import EVIDENCE, set_cell, write_data


def run_check(cwd, *args):
    return subprocess.run([sys.executable, "-m", "nma", "check", *args], cwd=cwd, capture_output=True, text=True)


def test_check_valid_data(tmp_path):
    write_data(tmp_path / "data")
    res = run_check(tmp_path, "data")
    assert res.returncode == 0, res.stderr
    assert "metastatic_first_line / pfs / population itt" in res.stdout
    assert "network: connected" in res.stdout


def test_check_lists_binary_networks_and_rate_only_trials(tmp_path):
    from test_binomial import PCR, SOURCES, TREATMENTS

    write_data(tmp_path / "data", evidence=PCR, treatments=TREATMENTS, sources=SOURCES)
    res = run_check(tmp_path, "data")
    assert res.returncode == 0, res.stderr
    block = res.stdout.split("neoadjuvant / pcr / population itt")[1].split("\n\n")[0]
    assert "trials (1): T1" in block and "comparisons: A vs B" in block and "network: connected" in block
    assert "rates without counts (enter only with [data] responders_from_rates): T2" in block


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda t: set_cell(set_cell(t, 2, "ci_lower", "0.75"), 2, "ci_upper", "0.51"),
         "evidence.csv, row 2, column 'ci_lower': lower bound 0.75 is not below upper bound 0.51"),
        (lambda t: set_cell(t, 2, "hr", "0"), "evidence.csv, row 2, column 'hr': must be greater than 0"),
        (lambda t: set_cell(t, 4, "arm", "T-DM1"), "evidence.csv, row 4, column 'arm': unknown value"),
        (lambda t: "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != 13)
                             for line in t.strip().split("\n")) + "\n",
         "evidence.csv, row 1, column 'ci_upper': missing required column"),
    ],
    ids=["swapped-ci", "hr-zero", "unknown-treatment", "missing-column"],
)
def test_check_bad_evidence(tmp_path, mutate, fragment):
    write_data(tmp_path / "data", mutate(EVIDENCE))
    res = run_check(tmp_path, "data")
    assert res.returncode != 0
    assert fragment in res.stderr
    assert "Fix:" in res.stderr
    assert not (tmp_path / "outputs").exists()


def test_check_contrast_csv(tmp_path):
    (tmp_path / "c.csv").write_text("study,treatment,y,se\nS1,A,,\nS1,B,-0.3,0.2\nS2,B,,\nS2,C,0.1,0.3\n")
    res = run_check(tmp_path, "c.csv")
    assert res.returncode == 0, res.stderr
    assert "treatments (3): A, B, C" in res.stdout


def test_check_analysis_configs_report_their_loops(tmp_path):
    """A triangle of two-arm trials plus a chain: only the triangle's edges have independent indirect evidence."""
    (tmp_path / "analyses").mkdir()
    (tmp_path / "c.csv").write_text("study,treatment,y,se\nS1,A,,\nS1,B,-0.3,0.2\nS2,B,,\nS2,C,0.1,0.3\n"
                                    "S3,A,,\nS3,C,-0.2,0.25\nS4,C,,\nS4,D,0.1,0.3\n")
    (tmp_path / "analyses" / "tri.toml").write_text('title = "Triangle"\n[data]\ncontrasts = "../c.csv"\n'
                                                   '[model]\nreference = "A"\n')
    res = run_check(tmp_path, "analyses")
    assert res.returncode == 0, res.stderr
    assert "analyses/tri.toml (Triangle)" in res.stdout
    assert "loops: 3 comparison(s) with direct and independent indirect evidence" in res.stdout
    assert "B vs A (direct: S1)" in res.stdout and "C vs B (direct: S2)" in res.stdout
    assert "D vs C" not in res.stdout.split("loops:")[1]
