"""Fuzzing the evidence loader: whatever the bytes, only NMAError subclasses may escape (with a message), never
a KeyError, IndexError, csv.Error or pandas error that would leave the user with a traceback."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
from conftest import EVIDENCE, SOURCES, TREATMENTS, write_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nma.app.describe import check_paths
from nma.errors import NMAError
from nma.evidence.evidence import load
from nma.inputs.contrasts import load_contrasts

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CONTRASTS = "study,treatment,y,se,n\nS1,A,,0.1,100\nS1,B,-0.3,0.2,100\nS1,C,-0.1,0.25,100\nS2,B,,,50\nS2,C,0.2,0.3,50\n"
#: Cells a user might type by mistake: other notations, symbols, whitespace, quotes, separators.
NASTY = ["", " ", "nan", "-inf", "1e309", "0x1p-3", "١٢", "0_5", "½", "1,5", "\"", "\"\"", ";", "\t", "\r", "\x00",
         "NULL", "N/A", "<0.001", "≤0.05", "95%", "-0", "+0.5", ".", "e5", "1e-400", "A", "a", "control", "\u200b"]


def _outcome(call) -> None:
    """Run call; pass on success or an NMAError with a message, fail on anything else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except NMAError as err:
            assert str(err)
        except Exception as err:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{type(err).__name__} escaped: {err}")


def _mutate(text: str, ops: list[tuple[int, int, str]]) -> str:
    """Apply (kind, position, payload) edits: replace a cell, delete or insert characters, duplicate or drop a line."""
    for kind, pos, payload in ops:
        lines = text.split("\n")
        line = pos % len(lines)
        if kind == 0:
            cells = lines[line].split(",")
            cells[pos % len(cells)] = payload
            lines[line] = ",".join(cells)
        elif kind == 1:
            lines.insert(line, lines[line])
        elif kind == 2 and len(lines) > 1:
            del lines[line]
        text = "\n".join(lines)
        if kind == 3:
            i = pos % (len(text) + 1)
            text = text[:i] + payload + text[i + 1:]
        elif kind == 4:
            i = pos % (len(text) + 1)
            text = text[:i] + payload + text[i:]
    return text


mutations = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10_000), st.sampled_from(NASTY) | st.text(max_size=4)),
                     min_size=1, max_size=4)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as tmp:
        yield write_data(Path(tmp) / "data")


@FUZZ
@given(raw=st.binary(max_size=400), which=st.sampled_from(["evidence.csv", "treatments.csv", "sources.csv"]))
def test_random_bytes(folder, raw, which):
    good = {"evidence.csv": EVIDENCE, "treatments.csv": TREATMENTS, "sources.csv": SOURCES}
    write_data(folder)
    (folder / which).write_bytes(raw)
    _outcome(lambda: load(folder))
    (folder / "contrasts.csv").write_bytes(raw)
    _outcome(lambda: load_contrasts(folder / "contrasts.csv"))
    (folder / which).write_text(good[which])


@FUZZ
@given(ops=mutations, which=st.sampled_from(["evidence.csv", "treatments.csv", "sources.csv"]))
def test_mutated_evidence(folder, ops, which):
    good = {"evidence.csv": EVIDENCE, "treatments.csv": TREATMENTS, "sources.csv": SOURCES}
    write_data(folder)
    (folder / which).write_text(_mutate(good[which], ops), encoding="utf-8", errors="surrogatepass")
    _outcome(lambda: check_paths([str(folder)]))


@FUZZ
@given(ops=mutations)
def test_mutated_contrasts(folder, ops):
    path = folder / "contrasts.csv"
    path.write_text(_mutate(CONTRASTS, ops), encoding="utf-8", errors="surrogatepass")
    _outcome(lambda: check_paths([str(path)]))
