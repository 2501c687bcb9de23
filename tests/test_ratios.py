"""Ratios with their CIs as printed (Network.from_ratios, [data] ratios = "file.csv"): y = log(ratio) and
se = (log U - log L) / (2 z) against hand computation, the multi-arm covariance rule, every validation error
by its message (row and column named), the ratio-looking warning, labels, and the config route."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nma.app.assemble import analysis_network
from nma.app.config import load_config
from nma.core.network import Network
from nma.errors import (
    ConfigError,
    EvidenceError,
    EvidenceWarning,
    ModelSpecError,
    NetworkDataError,
    NMAError,
)
from nma.inputs.ratios import load_ratios

ROOT = Path(__file__).resolve().parents[1]

# A made-up, non-HER2 network: P placebo, X and Y two drugs, one three-arm trial (C).
# Hand computation (z_0.95 = 1.959964, z_0.975 = 2.241403):
#   A: HR 0.70 (0.55, 0.89), 95%:   se = (ln 0.89 - ln 0.55) / 3.919928 = 0.481303 / 3.919928 = 0.122784
#   B: HR 0.91 (0.73, 1.13), 97.5%: se = (ln 1.13 - ln 0.73) / 4.482806 = 0.436928 / 4.482806 = 0.097468
#   C: X 0.75 (0.60, 0.94):         se = (ln 0.94 - ln 0.60) / 3.919928 = 0.448951 / 3.919928 = 0.114530
#      Y 0.85 (0.68, 1.06):         se = (ln 1.06 - ln 0.68) / 3.919928 = 0.443931 / 3.919928 = 0.113250
CSV = """study,treatment,hr,ci_lower,ci_upper,ci_level,p_value,n,events
A,P,,,,,,200,
A,X,0.70,0.55,0.89,,0.004,200,
B,P,,,,,,150,
B,Y,0.91,0.73,1.13,0.975,,150,
C,P,,,,,,300,
C,X,0.75,0.60,0.94,0.95,,300,
C,Y,0.85,0.68,1.06,0.95,,300,
"""
HAND_SE = {("A", "X"): 0.122784, ("B", "Y"): 0.097468, ("C", "X"): 0.114530, ("C", "Y"): 0.113250}
HAND_Y = {("A", "X"): -0.356675, ("B", "Y"): -0.094311, ("C", "X"): -0.287682, ("C", "Y"): -0.162519}


def frame(csv: str = CSV) -> pd.DataFrame:
    """The table as a user builds it in Python: numbers as numbers, empty cells as NaN."""
    from io import StringIO

    return pd.read_csv(StringIO(csv), dtype={"study": str, "treatment": str, "p_value": str})


def by_arm(net: Network) -> pd.DataFrame:
    return net.arms.set_index(["study", "treatment"])


def edit(csv: str, line: int, column: str, value: str) -> str:
    """The CSV with one cell changed; `line` counts the header as 1 (a spreadsheet's row)."""
    rows = csv.strip("\n").split("\n")
    header = rows[0].split(",")
    cells = rows[line - 1].split(",")
    cells[header.index(column)] = value
    rows[line - 1] = ",".join(cells)
    return "\n".join(rows) + "\n"


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)
        return fn(*args, **kwargs)


# ---- derivation --------------------------------------------------------------------------------------------

def test_log_ratio_and_se_from_95_and_975_percent_cis_match_hand_computation():
    net = quiet(Network.from_ratios, frame())
    arms = by_arm(net)
    for key, se in HAND_SE.items():
        assert arms.loc[key, "se"] == pytest.approx(se, abs=2e-6), key
        assert arms.loc[key, "y"] == pytest.approx(HAND_Y[key], abs=2e-6), key
    assert net.measure.code == "HR" and net.reference == "P"


def test_three_arm_covariance_is_half_the_smallest_contrast_variance_and_announced():
    with pytest.warns(EvidenceWarning, match=r"row 4 of df: multi-arm study 'C': the reference arm's log-hazard variance "
                                             r"\(the covariance of the study's contrasts\) is assumed to be 0.5 x the "
                                             r"smallest contrast variance \(se 0.0801\)"):
        net = Network.from_ratios(frame())
    rows = np.flatnonzero(net.arms["study"] == "C")
    V = net.covariance[np.ix_(rows, rows)]
    # 0.5 x min(0.114530^2, 0.113250^2) = 0.5 x 0.0128256 = 0.0064128
    assert V[0, 1] == V[1, 0] == pytest.approx(0.0064128, abs=2e-7)
    assert V[0, 0] == pytest.approx(0.114530**2, abs=1e-6) and V[1, 1] == pytest.approx(0.113250**2, abs=1e-6)
    assert np.count_nonzero(net.covariance - np.diag(np.diag(net.covariance))) == 2   # two-arm studies: none


def test_reference_arm_events_give_the_covariance_without_a_warning():
    df = frame()
    df.loc[4, "events"] = 100           # C's placebo arm: variance of its log-hazard 1/100
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvidenceWarning)
        net = Network.from_ratios(df)
    rows = np.flatnonzero(net.arms["study"] == "C")
    assert net.covariance[rows[0], rows[1]] == pytest.approx(0.01)


def test_odds_ratio_reference_variance_uses_events_and_n():
    df = frame().rename(columns={"hr": "or"})
    df.loc[4, ["events", "n"]] = 200, 1000   # log-odds variance of 200 of 1000: 1/200 + 1/800 = 0.00625
    net = Network.from_ratios(df, "OR")
    rows = np.flatnonzero(net.arms["study"] == "C")
    assert net.measure.code == "OR"
    assert net.covariance[rows[0], rows[1]] == pytest.approx(0.00625)


def test_ratio_column_may_be_called_ratio_and_labels_are_kept():
    net = quiet(Network.from_ratios, frame().rename(columns={"hr": "ratio"}), labels={"P": "Placebo", "X": "Drug X"})
    assert by_arm(net).loc[("A", "X"), "se"] == pytest.approx(HAND_SE[("A", "X")], abs=2e-6)
    assert dict(net.labels) == {"P": "Placebo", "X": "Drug X"}


def test_reference_argument_and_python_api_errors_name_the_argument():
    assert quiet(Network.from_ratios, frame(), reference="X").reference == "X"
    with pytest.raises(NetworkDataError, match=r"labels= names treatment 'Q', which is not in the network"):
        quiet(Network.from_ratios, frame(), labels={"Q": "Drug Q"})


def test_a_difference_measure_is_refused_with_the_route_to_use():
    with pytest.raises(ModelSpecError, match=r"measure='MD' \(mean difference\) is a difference, not a ratio.*"
                                             r"Fix: use Network.from_contrasts\(df, measure='MD'\)"):
        Network.from_ratios(frame(), measure="MD")


# ---- validation errors, each naming row and column -----------------------------------------------------------

@pytest.mark.parametrize("line, column, value, message", [
    (3, "ci_lower", "0.95", (r"row 3, column 'ci_lower': lower bound 0.95 is not below upper bound 0.89. Fix: the bounds "
                            r"may be swapped")),
    (3, "hr", "0.50", r"row 3, column 'hr': HR 0.50 lies outside its CI \(0.55, 0.89\)"),
    (3, "hr", "0.56", (r"row 3, column 'hr': HR 0.56 is far from the log-midpoint 0.700 of its CI \(0.55, 0.89\): "
                      r"the CI is grossly asymmetric")),
    (3, "ci_lower", "0", r"row 3, column 'ci_lower': must be greater than 0"),
    (3, "hr", "-0.7", r"row 3, column 'hr': must be greater than 0"),
    (3, "ci_upper", "", r"row 3, column 'ci_upper': the HR needs both CI bounds"),
    (3, "ci_level", "95", (r"row 3, column 'ci_level': CI level must be a fraction between 0 and 1 \(value: '95'\). "
                          r"Fix: write 0.95 for a 95% interval")),
    (3, "hr", "0.70 (0.55-0.89)", r"row 3, column 'hr': not a number"),
    (2, "ci_lower", "0.5", (r"row 2, column 'ci_lower': 'ci_lower' is given but 'hr' is empty: an empty hr marks the "
                           r"study's reference arm")),
    (3, "hr", "", r"row 2, column 'hr': study 'A' has 2 reference rows \(rows with an empty hr\)"),
    (2, "hr", "1.0", r"row 2, column 'hr': study 'A' has 0 reference rows"),
    (2, "study", "", r"row 2, column 'study': value is required but empty"),
    (3, "p_value", "p<0.05", r"row 3, column 'p_value': p-value is not a number"),
    (3, "events", "300", r"row 3, column 'events': events \(300\) exceed n \(200\)"),
])
def test_each_error_names_file_row_and_column(tmp_path, line, column, value, message):
    path = tmp_path / "ratios.csv"
    text = edit(CSV, line, column, value)
    if column == "hr" and value == "" and line == 3:
        text = edit(text, 3, "ci_lower", "")
        text = edit(text, 3, "ci_upper", "")
        text = edit(text, 3, "p_value", "")
    if column == "hr" and value == "1.0":
        text = edit(text, 2, "ci_lower", "0.8")
        text = edit(text, 2, "ci_upper", "1.25")
    path.write_text(text)
    with pytest.raises(EvidenceError, match=rf"{path}, {message}"):
        quiet(load_ratios, path, "HR")


def test_a_dataframe_given_in_python_names_row_n_of_df():
    df = frame()
    df.loc[5, "ci_lower"] = 0.99        # C, X: 0.99 > upper 0.94
    with pytest.raises(EvidenceError, match=r"^row 5 of df, column 'ci_lower': lower bound 0.99 is not below upper "
                                            r"bound 0.94"):
        Network.from_ratios(df)
    df = frame()
    df.loc[1, "ci_level"] = 95
    with pytest.raises(EvidenceError, match=r"^row 1 of df, column 'ci_level': CI level must be a fraction.*write 0.95"):
        Network.from_ratios(df)


def test_a_dataframe_with_a_source_counts_spreadsheet_rows():
    df = frame()
    df.loc[1, "hr"] = 0.5
    with pytest.raises(EvidenceError, match=r"^mine.csv, row 3, column 'hr': HR 0.5 lies outside its CI"):
        Network.from_ratios(df, source="mine.csv")


def test_missing_or_mismatched_ratio_column(tmp_path):
    with pytest.raises(EvidenceError, match=r"column 'or' holds ORs, but the measure is HR \(hazard ratio\). Fix: rename "
                                            r"the column to 'hr'.*or give measure=\"OR\""):
        Network.from_ratios(frame().rename(columns={"hr": "or"}))
    with pytest.raises(EvidenceError, match=r"missing the ratio column \('rr' or 'ratio'\)"):
        Network.from_ratios(frame().drop(columns="hr"), "RR")
    path = tmp_path / "r.csv"
    path.write_text(CSV.replace("hr,", "HR,", 1))
    with pytest.raises(EvidenceError, match=r"row 1, column 'HR': unknown column; did you mean 'hr'\?"):
        load_ratios(path)


def test_asymmetry_beyond_rounding_and_a_mismatched_p_value_warn():
    df = frame()
    df.loc[4, "events"] = 120           # no multi-arm assumption to announce
    df.loc[1, "hr"] = 0.72              # log-midpoint of (0.55, 0.89) is 0.6997: 0.72 is off by more than rounding
    with pytest.warns(EvidenceWarning, match=r"row 1 of df: CI \(0.55, 0.89\) is asymmetric around HR 0.72"):
        Network.from_ratios(df)
    df.loc[1, "hr"] = 0.70
    df.loc[1, "p_value"] = "0.5"        # the Wald p of 0.70 (0.55, 0.89) is 0.0037
    with pytest.warns(EvidenceWarning, match=r"row 1 of df: reported p 0.5 does not match the two-sided p implied by "
                                             r"HR 0.7 \(0.55, 0.89\)"):
        Network.from_ratios(df)


def test_consistent_p_value_and_symmetric_cis_are_silent():
    df = frame()
    df.loc[4, "events"] = 120
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvidenceWarning)
        Network.from_ratios(df)


def test_file_with_excel_bom_is_read(tmp_path):
    path = tmp_path / "ratios.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV.encode())
    contrasts = quiet(load_ratios, path, "HR")
    assert contrasts.set_index(["study", "treatment"]).loc[("B", "Y"), "se"] == pytest.approx(HAND_SE[("B", "Y")], abs=2e-6)


# ---- the ratio-looking warning -------------------------------------------------------------------------------

RATIOS_IN_Y = pd.DataFrame({"study": ["A", "A", "B", "B", "C", "C"], "treatment": ["P", "X", "P", "Y", "X", "Y"],
                            "y": [np.nan, 0.70, np.nan, 0.91, np.nan, 1.13], "se": [np.nan, 0.12, np.nan, 0.10, np.nan, 0.11]})


def test_hrs_typed_into_y_of_a_contrasts_file_warn(tmp_path):
    """The check is on the file route (a contrasts CSV), where HRs typed into y happen; a DataFrame built in Python
    (synthetic networks, selections) is taken as given."""
    from nma.inputs.contrasts import load_contrasts

    RATIOS_IN_Y.to_csv(tmp_path / "c.csv", index=False)
    with pytest.warns(EvidenceWarning, match=r"y looks like ratios \(HR\), not log-ratios: .* Fix: give log\(HR\) in y, "
                                             r"or use Network.from_ratios / \[data\] ratios with hr, ci_lower, ci_upper"):
        load_contrasts(tmp_path / "c.csv")


def test_the_same_y_as_a_difference_or_as_logs_do_not_warn(tmp_path):
    from nma.inputs.contrasts import load_contrasts

    RATIOS_IN_Y.to_csv(tmp_path / "md.csv", index=False)
    RATIOS_IN_Y.assign(y=np.log(RATIOS_IN_Y["y"])).to_csv(tmp_path / "logs.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvidenceWarning)
        load_contrasts(tmp_path / "md.csv", measure="MD")
        load_contrasts(tmp_path / "logs.csv")


def test_contrast_fixtures_do_not_look_like_ratios():
    """The rule must not fire on real log-ratio data: every contrast CSV in tests/ and analyses/."""
    from nma.core.ratios import looks_like_ratios

    files = [p for p in [*ROOT.glob("tests/**/*.csv"), *ROOT.glob("analyses/**/*.csv")]
             if p.read_text(errors="replace").startswith("study,treatment,y,se")]
    assert len(files) > 10
    for p in files:
        y = pd.to_numeric(pd.read_csv(p, dtype=str)["y"], errors="coerce")
        assert not looks_like_ratios(y[np.isfinite(y)]), p


def test_shipped_analyses_do_not_look_like_ratios(monkeypatch):
    """Nor on any shipped analysis's network (data/ selections), loading data/ once."""
    import functools

    from nma.app import assemble
    from nma.core.ratios import looks_like_ratios

    monkeypatch.setattr(assemble, "load", functools.lru_cache(maxsize=None)(assemble.load))
    for cfg_path in sorted(ROOT.glob("analyses/*.toml")):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            net = analysis_network(load_config(cfg_path)).network
        assert not [w for w in record if "looks like ratios" in str(w.message)], cfg_path
        y = net.contrast.y if getattr(net, "contrast", None) is not None else getattr(net, "y", None)
        if y is not None:
            assert not looks_like_ratios(y), cfg_path


# ---- the config route ----------------------------------------------------------------------------------------

def write(tmp_path: Path, data: str, csv: str = CSV) -> Path:
    (tmp_path / "ratios.csv").write_text(csv)
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'title = "Made-up HR network"\n[data]\n{data}\n[model]\neffects = "fixed"\nengine = "exact"\n')
    return cfg


def test_config_ratios_route_gives_the_same_network_as_from_ratios(tmp_path):
    cfg = load_config(write(tmp_path, 'ratios = "ratios.csv"\nmeasure = "HR"'))
    assert cfg.measure.code == "HR" and cfg.ratios_path == (tmp_path / "ratios.csv").resolve()
    net = quiet(analysis_network, cfg).network
    direct = quiet(Network.from_ratios, frame())
    assert net.measure.code == "HR" and net.treatments == direct.treatments
    np.testing.assert_allclose(net.y, direct.y, atol=1e-12)
    np.testing.assert_allclose(net.covariance, direct.covariance, atol=1e-12)
    for key, se in HAND_SE.items():
        assert by_arm(net).loc[key, "se"] == pytest.approx(se, abs=2e-6)


def test_config_measure_defaults_to_hr_and_labels_come_from_a_treatments_file(tmp_path):
    (tmp_path / "treatments.csv").write_text("id,label,description\nP,Placebo,\nX,Drug X 10 mg,oral daily\n")
    cfg = load_config(write(tmp_path, 'ratios = "ratios.csv"\ntreatments = "treatments.csv"'))
    assembled = quiet(analysis_network, cfg)
    assert assembled.network.measure.code == "HR"
    assert dict(assembled.network.labels) == {"P": "Placebo", "X": "Drug X 10 mg"}
    meta = assembled.treatments.set_index("id")
    assert meta.loc["X", "label"] == "Drug X 10 mg" and meta.loc["X", "description"] == "oral daily"


def test_config_labels_table(tmp_path):
    cfg = load_config(write(tmp_path, 'ratios = "ratios.csv"\n[data.labels]\nP = "Placebo"'))
    assert dict(quiet(analysis_network, cfg).network.labels) == {"P": "Placebo"}
    cfg = load_config(write(tmp_path, 'ratios = "ratios.csv"\n[data.labels]\nQ = "Drug Q"'))
    with pytest.raises(ConfigError, match=r"\[data.labels\] names treatment 'Q', not in the network \(P, X, Y\)"):
        quiet(analysis_network, cfg)


@pytest.mark.parametrize("data, message", [
    ('ratios = "ratios.csv"\nmeasure = "MD"', (r"\[data\] measure = \"MD\" \(mean difference\) is a difference, but "
                                             r"\[data\] ratios reads ratios")),
    ('ratios = "ratios.csv"\nmeasure = "HRR"', r"\[data\] measure='HRR' is not a known effect measure"),
    ('ratios = "ratios.csv"\ncontrasts = "c.csv"', r"\[data\] ratios and \[data\] contrasts are both given"),
    ('ratios = "ratios.csv"\nsetting = "nsclc_2l"', r"take the network as given. Fix: remove setting"),
    ('setting = "metastatic_first_line"\noutcome = "pfs"\nmeasure = "MD"', (r"\[data\] measure applies to a network "
                                                                           r"given as a file")),
    ('ratios = "ratios.csv"\ntreatments = "t.csv"\n[data.labels]\nP = "x"', r"treatments and \[data.labels\] are both"),
    ('ratios = "ratios.csv"\n[data.labels]\nP = 3', r"\[data.labels\] P must be a non-empty string"),
])
def test_config_errors_name_the_key(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, data))


def test_every_error_is_an_nma_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(edit(CSV, 3, "ci_lower", "0.95"))
    with pytest.raises(NMAError):
        load_ratios(path)
