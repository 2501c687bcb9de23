"""Design-by-treatment interaction (Higgins et al. 2012; netmeta's ``decomp.design``): a global test of inconsistency.

A design is the set of treatments a study compares. The design-by-treatment interaction model gives every design its
own effects; the consistency model is the special case where all designs share d. With the GLS fits of both
(`nma.models.frequentist`) under a covariance M = V + tau^2 C:

- Q decomposition (fixed effect, M = V; Krahn et al. 2013): Q total (consistency model's residual Q) = Q within designs
  (the interaction model's, heterogeneity between studies of one design) + Q between designs (inconsistency);
  Q within designs is the sum of the per-design Q's.
- Global Wald test of inconsistency: the interaction parameters beyond the consistency model are zero. With M known
  it equals Q(consistency, M) - Q(interaction, M), chi-square with rank(interaction) - (T - 1) df. Fixed effect uses
  M = V; random effects, as netmeta's decomp.design, the DL tau^2 of the interaction model ("tau within designs",
  so that inconsistency does not inflate tau and hide itself); the test at the consistency model's tau^2 is given too.
- Detaching one design at a time (netmeta's ``Q.inc.detach``, the margin of Krahn's net heat plot): Q between designs
  when that design alone is allowed its own effects; a design whose detachment removes most of Q between designs is
  where the inconsistency sits.

How to read the three tests (measured on synthetic_network(6, 30, share_three_arm=0.25, tau=0, seed=2)'s structure,
consistent data redrawn 300 times, 5% level): with no heterogeneity the fixed-effect test rejected 4.0% (it is exact),
the random-effects test with tau within designs 2.3% and the one at the consistency model's REML tau 1.3%; with a true
tau of 0.2 they rejected 81%, 19% and 0.3%. The fixed-effect test reads heterogeneity as inconsistency; tau within
designs is estimated from replicated designs only, so with few of them the random-effects test is too liberal; the
consistency tau absorbs inconsistency, so that test is conservative.

The Bayesian design-by-treatment model (random inconsistency effects per design) is not provided: the frequentist
global test and the Bayesian node-split and UME model (nma.checks.inconsistency) are what this package reports.
The net heat plot's matrix is given as a table (`net_heat`), not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from nma.core.network import Network
from nma.errors import ModelSpecError
from nma.models.frequentist import gls, inconsistency_design, study_designs, tau2_dl, tau2_reml

#: What the report says about the Bayesian counterpart.
BAYESIAN_ABSENT = ("The Bayesian design-by-treatment interaction model is not provided; node-splitting and the "
                   "unrelated-mean-effects model are the Bayesian inconsistency checks.")


def _p(q: float, df: int) -> float:
    return float(stats.chi2.sf(q, df)) if df > 0 else np.nan


def global_wald(X: np.ndarray, D: np.ndarray, y: np.ndarray, M: np.ndarray) -> tuple[float, int]:
    """The Wald statistic that the interaction parameters beyond the consistency model are zero, with its df: with M
    known, Q(consistency) - Q(interaction) (GLS residual Q's under M)."""
    q_c, q_i = gls(X, y, M), gls(D, y, M)
    return q_c.q - q_i.q, q_c.df - q_i.df


@dataclass(frozen=True, eq=False)
class DesignByTreatment:
    """The design-by-treatment interaction results of one network; each table is numeric.

    decomposition: component ("Total", "Within designs", "Between designs"), Q, df, p_value (fixed effect).
    per_design: design, n_studies, Q, df, p_value (heterogeneity within each design; df 0 for a design of one study).
    global_test: effects ("fixed", "random"), tau2, tau2_source, Q (Wald chi-square), df, p_value.
    detached: design, Q_between (Q between designs with that design detached), df, p_value.
    net_heat: the net heat plot's numbers (Krahn et al. 2013, netmeta's netheat, fixed effect), one row per (design,
    detached design) pair: design, detached, q_inc (the design's contribution to Q between designs, the squared
    distance between its direct estimate and the network estimate; they sum to Q between designs), q_inc_detached
    (the same once `detached` has its own effects) and change = q_inc - q_inc_detached (netmeta's colour is -change:
    a positive change means detaching that design removes inconsistency seen in this one). netmeta has one row per
    comparison of a multi-arm design; here a design is one row (the sum of its comparisons' rows).
    """

    decomposition: pd.DataFrame
    per_design: pd.DataFrame
    global_test: pd.DataFrame
    detached: pd.DataFrame
    net_heat: pd.DataFrame

    @property
    def df_inconsistency(self) -> int:
        return int(self.decomposition.set_index("component").loc["Between designs", "df"])

    def test(self, effects: str = "random") -> dict:
        """The global test's row for `effects` ("fixed" or "random", tau within designs) as a dict."""
        row = self.global_test[self.global_test["effects"] == effects].iloc[0]
        return row.to_dict()


def design_by_treatment(network: Network, tau2_consistency: float | None = None) -> DesignByTreatment:
    """The Q decomposition, the per-design Q, the global Wald tests and the detached-design Q's of a contrast network.

    Parameters
    ----------
    network : Network
        A contrast-level network with at least three treatments.
    tau2_consistency : float, optional
        The consistency model's tau^2 for the second random-effects test (default: its REML estimate).

    Returns
    -------
    DesignByTreatment
    """
    if len(network.treatments) < 3:
        raise ModelSpecError(f"network with {len(network.treatments)} treatments: a design-by-treatment test needs at "
                             "least three treatments (with two there is no loop to be inconsistent). Fix: skip the test")
    if tau2_consistency is not None and not (np.isfinite(tau2_consistency) and tau2_consistency >= 0):
        raise ModelSpecError(f"tau2_consistency={tau2_consistency!r} must be a finite number >= 0. Fix: pass the "
                             "consistency model's tau^2, or leave it out (REML)")
    X, y, V, C = network.design, network.y, network.covariance, network.multi_arm_correlation
    D, _ = inconsistency_design(network)
    cons, inter = gls(X, y, V), gls(D, y, V)
    decomposition = pd.DataFrame({"component": ["Total", "Within designs", "Between designs"],
                                  "Q": [cons.q, inter.q, cons.q - inter.q if cons.df > inter.df else 0.0],
                                  "df": [cons.df, inter.df, cons.df - inter.df]})
    decomposition["p_value"] = [_p(q, df) for q, df in zip(decomposition["Q"], decomposition["df"])]

    designs = np.array(study_designs(network))
    design_of_row = network.arms["study"].map(dict(zip(network.studies, designs))).to_numpy()
    resid = y - D @ inter.coef
    per = []
    for design in dict.fromkeys(designs):
        rows = np.flatnonzero(design_of_row == design)
        q = float(resid[rows] @ np.linalg.solve(V[np.ix_(rows, rows)], resid[rows]))
        df = len(rows) - (design.count(":"))
        per.append({"design": design, "n_studies": int((designs == design).sum()), "Q": q, "df": df,
                    "p_value": _p(q, df)})
    per_design = pd.DataFrame(per)

    tau2_within = tau2_dl(D, y, V, C) if inter.df > 0 else 0.0
    if tau2_consistency is None:
        tau2_consistency = tau2_reml(X, y, V, C) if cons.df > 0 else 0.0
    tests = []
    for effects, tau2, source in (("fixed", 0.0, "fixed effect (tau = 0)"),
                                  ("random", tau2_within, "DL, design-by-treatment model (netmeta decomp.design)"),
                                  ("random (consistency tau)", float(tau2_consistency), "consistency model")):
        q, df = global_wald(X, D, y, V + tau2 * C)
        q = q if df > 0 else 0.0
        tests.append({"effects": effects, "tau2": tau2, "tau2_source": source, "Q": q, "df": df, "p_value": _p(q, df)})

    unique = list(dict.fromkeys(designs))
    cols_of = {g: [j for j in range(D.shape[1]) if np.any(D[design_of_row == g, j])] for g in unique}
    info = D.T @ np.linalg.solve(V, D)       # block-diagonal over designs: the direct estimates' precision
    contribution = lambda fitted: _contributions(D, info, inter.coef, fitted, cols_of)  # noqa: E731
    q_inc = contribution(X @ cons.coef)
    detached, heat = [], []
    for design in unique:
        Xd = np.hstack([X, D[:, cols_of[design]]])
        fit = gls(Xd, y, V)
        df = fit.df - inter.df
        q = fit.q - inter.q if df > 0 else 0.0
        detached.append({"design": design, "Q_between": q, "df": df, "p_value": _p(q, df)})
        after = contribution(Xd @ fit.coef)
        heat += [{"design": g, "detached": design, "q_inc": q_inc[g], "q_inc_detached": after[g],
                  "change": q_inc[g] - after[g]} for g in unique]
    return DesignByTreatment(decomposition, per_design, pd.DataFrame(tests), pd.DataFrame(detached), pd.DataFrame(heat))


def _contributions(D: np.ndarray, info: np.ndarray, direct: np.ndarray, fitted: np.ndarray,
                   cols_of: dict[str, list[int]]) -> dict[str, float]:
    """Each design's (theta_direct - theta_model)' info_d (theta_direct - theta_model): theta_model solves D theta =
    the model's fitted contrasts exactly (the model is nested in the design-by-treatment model)."""
    theta, *_ = np.linalg.lstsq(D, fitted, rcond=None)
    r = direct - theta
    return {g: float(r[c] @ info[np.ix_(c, c)] @ r[c]) if c else 0.0 for g, c in cols_of.items()}
