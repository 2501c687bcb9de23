"""Write tests/reference/frequentist_networks.csv: the contrast tables the metafor fixture and the tests both read.

    .venv/bin/python tests/reference/make_frequentist_networks.py && Rscript tests/reference/make_metafor_frequentist.R

Networks (column `network`; canonical contrast format: one row per arm, the study's reference arm with an empty y and,
in a multi-arm study, its se, which is the covariance of the study's contrasts):

- ``parkinsons``: NICE DSU TSD2 Example 7 (mean off-time reduction), tests/reference/tsd2_parkinsons.csv as is.
- ``smoking``: NICE DSU TSD4 smoking cessation (tests/reference/tsd4_smoking.csv, arm-level r of n) as log odds
  ratios against each study's first arm: y = logit(p_k) - logit(p_1), se^2 = 1/r + 1/(n - r) summed over the two arms,
  the reference arm's se = sqrt(1/r_1 + 1/(n_1 - r_1)). A study with a zero cell (studies 6 and 15: no events on no
  contact) has 0.5 added to every cell of every arm of that study (r + 0.5 of n + 1), as netmeta's pairwise(incr=0.5)
  does by default; no other study is corrected.
- ``smoking_pairwise``: the two-arm no contact vs individual counselling studies of ``smoking``: a two-treatment
  network, where metafor's univariate rma.uni (DL, REML, Q-profile interval) is a second independent answer.
- ``synthetic``: nma.core.synthetic.synthetic_network(6, 18, share_three_arm=0.3, tau=0.25, seed=2): 18 studies,
  5 of them three-arm, y and se rounded to 6 decimals so that R and Python read the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nma.core.synthetic import synthetic_network

HERE = Path(__file__).resolve().parent
INCR = 0.5


def smoking_contrasts(arms: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for study, g in arms.groupby("study", sort=False):
        r, n = g["r"].to_numpy(float), g["n"].to_numpy(float)
        if ((r == 0) | (r == n)).any():
            r, n = r + INCR, n + 2 * INCR
        logit = np.log(r / (n - r))
        var = 1 / r + 1 / (n - r)
        t = list(g["treatment"])
        rows.append({"study": study, "treatment": t[0], "y": np.nan,
                     "se": np.sqrt(var[0]) if len(t) > 2 else np.nan})
        rows += [{"study": study, "treatment": t[k], "y": logit[k] - logit[0], "se": np.sqrt(var[0] + var[k])}
                 for k in range(1, len(t))]
    return pd.DataFrame(rows)


def main() -> None:
    park = pd.read_csv(HERE / "tsd2_parkinsons.csv", dtype={"study": str, "treatment": str})
    smoking = smoking_contrasts(pd.read_csv(HERE / "tsd4_smoking.csv", dtype={"study": str}))
    pair = {"no_contact", "individual"}
    two_arm = [s for s, g in smoking.groupby("study", sort=False) if set(g["treatment"]) == pair and len(g) == 2]
    pairwise = smoking[smoking["study"].isin(two_arm)]
    synth = synthetic_network(6, 18, share_three_arm=0.3, tau=0.25, seed=2)
    parts = {"parkinsons": park, "smoking": smoking, "smoking_pairwise": pairwise, "synthetic": synth}
    out = pd.concat([df.assign(network=name)[["network", "study", "treatment", "y", "se"]]
                     for name, df in parts.items()], ignore_index=True)
    out.to_csv(HERE / "frequentist_networks.csv", index=False, float_format="%.6f", lineterminator="\n")


if __name__ == "__main__":
    main()
