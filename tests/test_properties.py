"""Property-based tests (hypothesis) of the evidence layer and the exact engine: identities that must hold for
every input, not just the worked examples."""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import HEADER, SOURCES, write_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nma.constants import CI_PROB
from nma.core.network import Network
from nma.evidence.evidence import load, se_from_ci, z_for_level
from nma.evidence.selection import Selection, select
from nma.inputs.contrasts import load_contrasts
from nma.models.exact import exact_relative_effects, fit_exact
from nma.models.priors import parse_tau_prior
from nma.models.spec import ModelSpec
from nma.posterior.summaries import probs_for

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
hrs = st.floats(0.05, 20.0)
ses = st.floats(0.02, 1.5)
levels = st.sampled_from([0.8, 0.9, 0.95, 0.975, 0.99])


@SETTINGS
@given(hr=hrs, se=ses, level=levels)
def test_se_from_ci_is_positive_and_direction_free(hr, se, level):
    z = z_for_level(level)
    lower, upper = hr * math.exp(-z * se), hr * math.exp(z * se)
    forward, inverted = se_from_ci(lower, upper, level), se_from_ci(1 / upper, 1 / lower, level)
    assert forward > 0 and inverted > 0
    assert forward == pytest.approx(se, rel=1e-9) and inverted == pytest.approx(forward, rel=1e-9)


TREATMENTS = "id,label,components,mechanism,dual_blockade\nA,Control,x,antibody,false\nB,New,y,antibody,true\n"


def _contrast_from_rows(rows: str) -> pd.Series:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = write_data(Path(tmp), HEADER + "\n" + rows, TREATMENTS, SOURCES)
        table = select(load(folder), Selection(setting="adjuvant", outcome="os")).contrasts
    return table.set_index("treatment").loc["B", ["y", "se"]]


def _row(arm, role, hr="", lower="", upper="", level="", comparator=""):
    return f"T,primary,2020-01,adjuvant,os,,itt,{arm},{role},100,50,{hr},{lower},{upper},{level},,{comparator},,,,,s1,Table 1\n"


@SETTINGS
@given(hr=hrs, se=ses, level=levels)
def test_log_hr_is_antisymmetric(hr, se, level):
    """An HR typed as B vs A, or as its inverse A vs B on the control arm's row, gives the same contrast."""
    z = z_for_level(level)
    lo, up = hr * math.exp(-z * se), hr * math.exp(z * se)
    as_printed = _row("B", "experimental", repr(hr), repr(lo), repr(up), level, "A") + _row("A", "control")
    inverted = _row("B", "experimental") + _row("A", "control", repr(1 / hr), repr(1 / up), repr(1 / lo), level, "B")
    a, b = _contrast_from_rows(as_printed), _contrast_from_rows(inverted)
    assert a["y"] == pytest.approx(math.log(hr), abs=1e-12) and b["y"] == pytest.approx(a["y"], abs=1e-12)
    assert b["se"] == pytest.approx(a["se"], rel=1e-9)


@st.composite
def networks(draw, min_treatments=3, max_treatments=5):
    """A connected contrast table: a chain through every treatment, extra two-arm studies, maybe a three-arm one."""
    k = draw(st.integers(min_treatments, max_treatments))
    names = [f"t{i}" for i in range(k)]
    pairs = [(names[i], names[i + 1]) for i in range(k - 1)]
    pairs += draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)).filter(lambda p: p[0] != p[1]),
                           max_size=4))
    rows = []
    for s, (a, b) in enumerate(pairs):
        rows += [{"study": f"S{s}", "treatment": a, "y": math.nan, "se": math.nan},
                 {"study": f"S{s}", "treatment": b, "y": draw(st.floats(-1.5, 1.5)), "se": draw(st.floats(0.08, 0.6))}]
    if draw(st.booleans()):
        rows += [{"study": "M", "treatment": names[0], "y": math.nan, "se": 0.05}]
        rows += [{"study": "M", "treatment": t, "y": draw(st.floats(-1.5, 1.5)), "se": draw(st.floats(0.1, 0.6))}
                 for t in names[1:3]]
    return pd.DataFrame(rows)


@SETTINGS
@given(table=networks())
def test_contrast_table_round_trips_through_csv(table):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.csv"
        table.to_csv(path, index=False)
        back = load_contrasts(path)
    pd.testing.assert_frame_equal(back[list(table.columns)].reset_index(drop=True), table, check_exact=True,
                                  check_dtype=False)  # same values, bit for bit; string columns may change dtype


def _effects(table: pd.DataFrame, reference: str, spec: ModelSpec) -> pd.DataFrame:
    net = Network.from_contrasts(table, reference=reference)
    rel = exact_relative_effects(fit_exact(net, spec), probs_for(CI_PROB))
    return rel.set_index(["treatment", "comparator"]).sort_index()[["mean", "sd", "lower", "median", "upper"]]


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(table=networks(), effects=st.sampled_from(["fixed", "random"]))
def test_relative_effects_do_not_depend_on_the_reference(table, effects):
    """A consistency-model identity. The N(0, sd^2) prior sits on the basic parameters, so it is made flat
    (sd = 1e5) for the identity to hold exactly: the prior's effect is then ~ se^2 / sd^2 < 1e-10."""
    spec = ModelSpec(effects=effects, d_prior_sd=1e5, tau_prior=parse_tau_prior("half-normal(0.5)"))
    treatments = sorted(set(table["treatment"]))
    first, other = _effects(table, treatments[0], spec), _effects(table, treatments[-1], spec)
    diff = (other - first).abs().max()
    assert (diff < 1e-8).all(), diff
