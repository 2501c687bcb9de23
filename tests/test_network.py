"""Network structure: design matrix, multi-arm covariance, connectivity, reference choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import parkinsons

from nma.core.network import Network
from nma.errors import NetworkDataError


def test_design_matrix_by_hand():
    net = parkinsons()
    # rows: 1: 3 vs 1 | 2: 2 vs 1 | 3: 2 vs 1, 4 vs 1 | 4: 4 vs 3 | 5: 4 vs 3 | 6: 5 vs 4 | 7: 5 vs 4; columns d2..d5
    expected = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0],
                         [0, -1, 1, 0], [0, -1, 1, 0], [0, 0, -1, 1], [0, 0, -1, 1]], float)
    assert net.treatments == ("1", "2", "3", "4", "5")
    np.testing.assert_array_equal(net.design, expected)


def test_multi_arm_covariance_uses_reference_arm_variance():
    net = parkinsons()
    V = net.covariance
    assert V[2, 3] == pytest.approx(0.505**2) and V[3, 2] == pytest.approx(0.505**2)
    assert V[2, 2] == pytest.approx(0.718**2) and V[3, 3] == pytest.approx(0.695**2)
    assert np.count_nonzero(V - np.diag(np.diag(V))) == 2
    C = net.multi_arm_correlation
    assert C[2, 3] == 0.5 and C[0, 1] == 0 and np.all(np.diag(C) == 1)


def test_not_positive_definite_names_study():
    df = pd.DataFrame({"study": ["X", "X", "X"], "treatment": ["A", "B", "C"], "y": [np.nan, 0.1, 0.2],
                       "se": [0.9, 0.2, 0.2]})
    with pytest.raises(NetworkDataError, match=r"not positive definite for study 'X'.*se column"):
        Network.from_contrasts(df)


def test_disconnected_network_lists_components():
    df = pd.DataFrame({"study": ["s1", "s1", "s2", "s2"], "treatment": ["A", "B", "C", "D"],
                       "y": [np.nan, 0.1, np.nan, 0.2], "se": [np.nan, 0.2, np.nan, 0.2]})
    with pytest.raises(NetworkDataError, match=r"disconnected \(2 components\): component 1: A, B; component 2: C, D"):
        Network.from_contrasts(df)


def test_reference_absent():
    with pytest.raises(NetworkDataError, match=r"reference treatment 'Z' is not in the network. Suitable values are: 1, 2, 3, 4, 5"):
        Network.from_contrasts(parkinsons().contrasts, reference="Z")


def test_default_reference_is_most_connected():
    # treatment 4 is in studies 3, 4, 5, 6, 7: more than any other
    assert Network.from_contrasts(parkinsons().contrasts).reference == "4"


def test_summary_reads_like_multinma():
    text = parkinsons().summary()
    assert "7 studies (1 multi-arm), 5 treatments" in text
    assert text.endswith("Reference treatment is: 1\nNetwork is connected")
