"""Treatment nodes: pooling is explicit, logged, reversible, and refuses what would be a self-comparison."""

from __future__ import annotations

import math

import pytest
from conftest import EVIDENCE, HEADER, SOURCES, TREATMENTS, write_data

from nma.app.config import load_config
from nma.core.network import Network
from nma.errors import ConfigError, NetworkDataError
from nma.evidence.evidence import load
from nma.evidence.nodes import NodeGrouping
from nma.evidence.selection import Selection, select


def _select(tmp_path, nodes: NodeGrouping):
    ev = load(write_data(tmp_path / "d", EVIDENCE, TREATMENTS, SOURCES))
    return select(ev, Selection(setting="metastatic_first_line", outcome="pfs", nodes=nodes))


def test_pooled_regimens_share_a_node_and_keep_their_regimen(tmp_path):
    # T1 is B vs A, T2 is C vs A. Pooling C into B leaves two trials of the one comparison B vs A.
    sel = _select(tmp_path, NodeGrouping({"B": ("B", "C")}, "same class, judged exchangeable"))
    table = sel.contrasts.set_index("study")
    assert set(sel.contrasts["treatment"]) == {"A", "B"}
    assert table.loc["T2"].set_index("regimen").loc["C", "treatment"] == "B"
    assert table.loc["T2"].set_index("regimen").loc["C", "y"] == pytest.approx(math.log(0.91))
    assert any("node 'B' pools B, C: same class" in line for line in sel.log)
    network = Network.from_contrasts(sel.contrasts, reference="A")
    assert network.treatments == ("A", "B")
    assert int(network.comparisons["n_studies"].max()) == 2


def test_no_pooling_leaves_the_table_as_it_was(tmp_path):
    plain = _select(tmp_path, NodeGrouping()).contrasts
    assert "regimen" not in plain.columns and set(plain["treatment"]) == {"A", "B", "C"}


def test_pooling_both_arms_of_a_trial_is_an_error(tmp_path):
    with pytest.raises(NetworkDataError, match=r"T1: arms A, B are all pooled into node 'A'.*compare a node with itself"):
        _select(tmp_path, NodeGrouping({"A": ("A", "B")}, "wrong"))


def test_unknown_treatment_in_a_node(tmp_path):
    with pytest.raises(NetworkDataError, match=r"\[data.nodes\] B names treatment 'Z', which is not in treatments.csv"):
        _select(tmp_path, NodeGrouping({"B": ("B", "Z")}, "typo"))


def test_treatment_in_two_nodes(tmp_path):
    with pytest.raises(NetworkDataError, match=r"treatment 'C' is pooled into two nodes, 'A' and 'B'"):
        _select(tmp_path, NodeGrouping({"A": ("C",), "B": ("C",)}, "x"))


def _config(tmp_path, body: str):
    path = tmp_path / "a.toml"
    path.write_text('[data]\nsetting = "metastatic_first_line"\noutcome = "pfs"\n' + body, encoding="utf-8")
    return path


def test_config_requires_a_rationale(tmp_path):
    with pytest.raises(ConfigError, match="nodes_rationale is missing"):
        load_config(_config(tmp_path, '[data.nodes]\nB = ["B", "C"]\n'))


def test_config_nodes_must_be_lists(tmp_path):
    with pytest.raises(ConfigError, match=r"\[data.nodes\] B must be a non-empty list"):
        load_config(_config(tmp_path, 'nodes_rationale = "r"\n[data.nodes]\nB = "C"\n'))


def test_config_grouping_reaches_the_selection(tmp_path):
    cfg = load_config(_config(tmp_path, 'nodes_rationale = "same class"\n[data.nodes]\nB = ["B", "C"]\n'))
    assert cfg.selection.nodes == NodeGrouping({"B": ("B", "C")}, "same class")


BINARY = HEADER + """
T1,primary,,neoadjuvant,pcr,ypT0/is,itt,B,experimental,100,,,,,,,,,,,30,s1,Table 2
T1,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,100,,,,,,,,,,,20,s1,Table 2
T2,primary,,neoadjuvant,pcr,ypT0/is,itt,C,experimental,80,,,,,,,,,,,0,s1,Table 3
T2,primary,,neoadjuvant,pcr,ypT0/is,itt,A,control,80,,,,,,,,,,,10,s1,Table 3
"""


def test_arm_level_rows_are_pooled_too(tmp_path):
    from nma.evidence.counts import select_arms

    ev = load(write_data(tmp_path / "d", BINARY, TREATMENTS, SOURCES))
    sel = select_arms(ev, Selection(setting="neoadjuvant", outcome="pcr", nodes=NodeGrouping({"B": ("B", "C")}, "x")))
    arms = sel.contrasts.set_index(["study", "regimen"])
    assert set(sel.contrasts["treatment"]) == {"A", "B"}
    assert arms.loc[("T2", "C"), "treatment"] == "B" and arms.loc[("T2", "C"), "r"] == 0   # counts untouched
