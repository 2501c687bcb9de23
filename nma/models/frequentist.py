"""The frequentist companion: multivariate GLS network meta-analysis (netmeta's model, metafor's ``rma.mv``).

The data and their structure are the Bayesian model's (`Network.y`, `.design`, `.covariance`,
`.multi_arm_correlation`): contrasts y = X d + delta + e with e ~ N(0, V) (multi-arm covariance) and, under random
effects, delta ~ N(0, tau^2 C) with C = 1 on the diagonal and 0.5 within a multi-arm study (a common tau). Given tau,
d is estimated by generalised least squares with M = V + tau^2 C; tau^2 is estimated by

- ``"REML"``: the restricted likelihood, maximised by Fisher scoring (as metafor's ``rma.mv(method="REML")``);
- ``"DL"``: the generalised DerSimonian-Laird moment estimator of Jackson, White & Riley (2012),
  tau^2 = max(0, (Q - df) / tr(P C)) with P = W - W X (X'W X)^-1 X'W, W = V^-1, the formula netmeta's ``tau.within``
  uses (netmeta's ``netmeta(method.tau="DL")`` writes the same moment estimator in its graph-theoretical form);
- ``"fixed"``: tau = 0.

Alongside: the Q-profile confidence interval of tau^2 (the generalised Q statistic at tau^2 is exactly chi-square with
n - p degrees of freedom, so the interval is exact: Jackson et al. 2014), I^2 with the Higgins & Thompson (2002)
interval netmeta prints, Q total and its split into within designs and between designs (Krahn et al. 2013), the
netmeta prediction interval (t with df = n - p) and P-scores (Rucker & Schwarzer 2015).

NumPy and SciPy only: no PyMC, no sampling. Networks are small (tens of contrasts), so matrices are dense.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from nma.constants import CI_PROB, COMPARATOR, TREATMENT
from nma.core.measures import Measure
from nma.core.network import Network
from nma.errors import ModelSpecError, NetworkDataError
from nma.models.exact import pairwise_matrix

#: The estimators of tau^2 `frequentist` offers.
METHODS = ("REML", "DL", "fixed")
#: Fisher scoring for REML stops when tau^2 moves less than this (absolute, on the model scale squared).
REML_TOL = 1e-13


# ---- generalised least squares ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GLS:
    """One GLS fit: coefficients b, their covariance, the generalised Q = r'M^-1 r and its df (n - rank X)."""

    coef: np.ndarray
    cov: np.ndarray
    q: float
    df: int


def gls(X: np.ndarray, y: np.ndarray, M: np.ndarray) -> GLS:
    """b = (X'M^-1 X)^-1 X'M^-1 y, its covariance and Q = (y - Xb)'M^-1 (y - Xb), via Cholesky factors."""
    L = np.linalg.cholesky(M)
    Xw = np.linalg.solve(L, X)
    yw = np.linalg.solve(L, y)
    coef, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    r = yw - Xw @ coef
    cov = np.linalg.pinv(Xw.T @ Xw)
    rank = np.linalg.matrix_rank(Xw)
    return GLS(coef, 0.5 * (cov + cov.T), float(r @ r), len(y) - int(rank))


def _marginal(V: np.ndarray, C: np.ndarray, tau2: float) -> np.ndarray:
    return V + tau2 * C


def q_statistic(X: np.ndarray, y: np.ndarray, V: np.ndarray, C: np.ndarray, tau2: float) -> float:
    """The generalised Q at tau^2: residual sum of squares of the GLS fit with M = V + tau^2 C (decreasing in tau^2)."""
    return gls(X, y, _marginal(V, C, tau2)).q


def _projection(X: np.ndarray, Minv: np.ndarray) -> np.ndarray:
    """P = M^-1 - M^-1 X (X'M^-1 X)^-1 X'M^-1: the REML and moment estimators' residual projection."""
    MX = Minv @ X
    return Minv - MX @ np.linalg.pinv(X.T @ MX) @ MX.T


def tau2_dl(X: np.ndarray, y: np.ndarray, V: np.ndarray, C: np.ndarray) -> float:
    """Generalised DerSimonian-Laird (Jackson, White & Riley 2012): max(0, (Q - df) / tr(P C)), P at tau = 0."""
    fe = gls(X, y, V)
    denom = float(np.trace(_projection(X, np.linalg.inv(V)) @ C))
    return max(0.0, (fe.q - fe.df) / denom) if denom > 0 else 0.0


def tau2_reml(X: np.ndarray, y: np.ndarray, V: np.ndarray, C: np.ndarray) -> float:
    """REML tau^2 by Fisher scoring from the DL estimate, truncated at 0 (score and information as in metafor's rma.uni).

    score(tau^2) = (r'M^-1 C M^-1 r - tr(P C)) / 2 with r the GLS residual; information = tr(P C P C) / 2.
    """
    tau2 = tau2_dl(X, y, V, C)
    for _ in range(1000):
        Minv = np.linalg.inv(_marginal(V, C, tau2))
        P = _projection(X, Minv)
        Py = P @ y
        PC = P @ C
        score = 0.5 * (Py @ C @ Py - np.trace(PC))
        info = 0.5 * np.trace(PC @ PC)
        if info <= 0:
            return 0.0
        new = max(0.0, tau2 + score / info)
        if abs(new - tau2) < REML_TOL:
            return new
        tau2 = new
    raise NetworkDataError(f"REML estimate of tau^2 did not converge in 1000 Fisher-scoring steps (last {tau2:.6g}). "
                           "Fix: use method=\"DL\" or method=\"fixed\"")


def tau2_qprofile(X: np.ndarray, y: np.ndarray, V: np.ndarray, C: np.ndarray,
                  ci_prob: float = CI_PROB) -> tuple[float, float]:
    """Q-profile interval of tau^2: {tau^2 : chi2_{df, a/2} <= Q(tau^2) <= chi2_{df, 1-a/2}}, a bound at 0 when Q(0)
    already lies below the quantile (Viechtbauer 2007; exact for a common tau with known C, Jackson et al. 2014)."""
    df = gls(X, y, V).df
    if df < 1:
        return (np.nan, np.nan)
    a = 1 - ci_prob

    def bound(target: float) -> float:
        f = lambda t2: q_statistic(X, y, V, C, t2) - target  # noqa: E731 (decreasing in t2)
        if f(0.0) <= 0:
            return 0.0
        hi = max(1e-4, float(np.median(np.diag(V))))
        while f(hi) > 0:
            hi *= 4
            if hi > 1e8:
                return np.inf
        return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-13, maxiter=500))

    return bound(stats.chi2.ppf(1 - a / 2, df)), bound(stats.chi2.ppf(a / 2, df))


def i2_higgins_thompson(q: float, df: int, ci_prob: float = CI_PROB) -> tuple[float, float, float]:
    """I^2 = (H^2 - 1) / H^2 with H = sqrt(Q / df) floored at 1, and its interval from the test-based standard error of
    log H (Higgins & Thompson 2002, eq. for se(ln H)); what netmeta prints (its meta::isquared)."""
    if df < 1:
        return (np.nan, np.nan, np.nan)
    k = df + 1
    H = np.sqrt(q / df)
    if q > k:
        se = 0.5 * (np.log(q) - np.log(df)) / (np.sqrt(2 * q) - np.sqrt(2 * k - 3))
    elif k > 2:
        se = np.sqrt(1 / (2 * (k - 2)) * (1 - 1 / (3 * (k - 2) ** 2)))
    else:
        se = np.nan
    z = special.ndtri(0.5 + ci_prob / 2)
    log_h = np.log(max(H, 1.0))
    to_i2 = lambda h: (h**2 - 1) / h**2  # noqa: E731
    return (to_i2(np.exp(log_h)), to_i2(max(np.exp(log_h - z * se), 1.0)), to_i2(max(np.exp(log_h + z * se), 1.0)))


# ---- designs ---------------------------------------------------------------------------------------------
def study_designs(network: Network) -> tuple[str, ...]:
    """Each study's design, the set of treatments it compares, as text ("A:B:C", treatments in network order)."""
    pos = {t: i for i, t in enumerate(network.treatments)}
    sets = network.contrasts.groupby("study", sort=False)["treatment"].apply(lambda s: sorted(s, key=pos.get))
    return tuple(":".join(map(str, sets[s])) for s in network.studies)


def inconsistency_design(network: Network) -> tuple[np.ndarray, list[str]]:
    """The design-by-treatment interaction model's design matrix (Higgins et al. 2012, full interaction).

    Each design gets its own effects, of every other treatment in it against the design's first treatment (network
    order); a contrast row of study s (treatment t vs its baseline b) gets +1 at (design, t) and -1 at (design, b).
    Returns the matrix (contrasts x parameters) and the parameters' labels "design: t vs first".
    """
    designs = study_designs(network)
    cols: dict[tuple[str, str], int] = {}
    for design in dict.fromkeys(designs):
        first, *rest = design.split(":")
        for t in rest:
            cols[(design, t)] = len(cols)
    by_study = dict(zip(network.studies, designs))
    D = np.zeros((len(network.arms), len(cols)))
    for i, (study, t, b) in enumerate(network.arms[["study", "treatment", "baseline"]].itertuples(index=False)):
        design = by_study[study]
        if (design, str(t)) in cols:
            D[i, cols[(design, str(t))]] += 1.0
        if (design, str(b)) in cols:
            D[i, cols[(design, str(b))]] -= 1.0
    return D, [f"{d}: {t} vs {d.split(':')[0]}" for d, t in cols]


# ---- the fit ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FrequentistFit:
    """A GLS network meta-analysis: d (basic parameters, ``treatments[1:]`` vs ``treatments[0]``) with covariance,
    tau^2 and the heterogeneity statistics. Built by `frequentist`; every method returns a numeric DataFrame on the
    model scale (log for a ratio measure)."""

    treatments: tuple[str, ...]
    measure: Measure
    method: str
    d: np.ndarray                 # (T - 1,) estimates against the reference
    cov: np.ndarray               # (T - 1, T - 1)
    tau2: float                   # 0 under fixed effect
    tau2_ci: tuple[float, float]  # Q-profile interval (whatever the method: it depends on the data only)
    q_total: float
    df_total: int
    q_within: float
    df_within: int
    n_studies: int
    n_contrasts: int
    lower_is_better: bool = True
    ci_prob: float = CI_PROB

    @property
    def q_between(self) -> float:
        """Q total - Q within designs; exactly 0 when there is no loop (0 df), not a rounding residue."""
        return self.q_total - self.q_within if self.df_between > 0 else 0.0

    @property
    def df_between(self) -> int:
        return self.df_total - self.df_within

    def _pairs(self):
        C, pairs = pairwise_matrix(len(self.treatments))
        est = C @ self.d
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", C, self.cov, C), 0.0))
        return pairs, est, se

    def relative_effects(self) -> pd.DataFrame:
        """Every ordered pair, treatment minus comparator on the model scale.

        Returns
        -------
        pandas.DataFrame
            treatment, comparator, estimate, se, lower, upper (Wald interval, estimate -/+ z se at ``ci_prob``), z,
            p_value (two-sided Wald), pred_lower, pred_upper (netmeta's prediction interval: estimate -/+
            t_{df, (1+ci_prob)/2} sqrt(se^2 + tau^2), df = Q's df, when df >= 2 and tau^2 > 0; NaN otherwise).
        """
        pairs, est, se = self._pairs()
        z = special.ndtri(0.5 + self.ci_prob / 2)
        t = self.treatments
        out = pd.DataFrame({TREATMENT: [t[i] for i, _ in pairs], COMPARATOR: [t[j] for _, j in pairs],
                            "estimate": est, "se": se, "lower": est - z * se, "upper": est + z * se})
        out["z"] = est / se
        out["p_value"] = 2 * special.ndtr(-np.abs(out["z"].to_numpy()))
        if self.method != "fixed" and self.df_total >= 2:
            tq = stats.t.ppf(0.5 + self.ci_prob / 2, self.df_total)
            half = tq * np.sqrt(se**2 + self.tau2)
            out["pred_lower"], out["pred_upper"] = est - half, est + half
        else:
            out["pred_lower"] = out["pred_upper"] = np.nan
        return out

    def league_table(self, order: list[str] | None = None) -> pd.DataFrame:
        """The league table in long form: one row per ordered (row, column) pair in `order` (default: by P-score).

        Returns
        -------
        pandas.DataFrame
            row, column, estimate, lower, upper: the row treatment versus the column treatment (model scale, 95%
            Wald CI at ``ci_prob``), rows in league order (row-major).
        """
        if order is None:
            order = list(self.pscores().sort_values("pscore", ascending=False)[TREATMENT])
        missing = [o for o in order if o not in self.treatments]
        if missing:
            raise ModelSpecError(f"order={order!r}: {missing} not in the network. Fix: use treatments from "
                                 f"{list(self.treatments)}")
        rel = self.relative_effects().set_index([TREATMENT, COMPARATOR])
        rows = [{"row": r, "column": c, **rel.loc[(r, c), ["estimate", "lower", "upper"]].to_dict()}
                for r in order for c in order if r != c]
        return pd.DataFrame(rows, columns=["row", "column", "estimate", "lower", "upper"])

    def pscores(self) -> pd.DataFrame:
        """P-scores (Rucker & Schwarzer 2015): the mean over the other treatments j of P(i better than j) under the
        normal approximation, Phi((d_j - d_i) / se_ij) when lower is better; the frequentist SUCRA.

        Returns
        -------
        pandas.DataFrame
            treatment, pscore (0 to 1, higher = better), in network order.
        """
        pairs, est, se = self._pairs()
        T = len(self.treatments)
        sign = -1.0 if self.lower_is_better else 1.0
        better = np.zeros((T, T))
        for (i, j), e, s in zip(pairs, est, se):
            better[i, j] = special.ndtr(sign * e / s) if s > 0 else 0.5
        return pd.DataFrame({TREATMENT: list(self.treatments), "pscore": better.sum(1) / (T - 1)})

    def heterogeneity(self) -> pd.DataFrame:
        """Heterogeneity and the Q decomposition.

        Returns
        -------
        pandas.DataFrame
            quantity, estimate, lower, upper, df, p_value, method. Rows: ``tau2`` (the method's estimate; the
            interval is the Q-profile one), ``tau`` (its square root), ``I2`` (Higgins & Thompson interval),
            ``Q total`` (consistency model, fixed effect), ``Q within designs`` (heterogeneity within designs),
            ``Q between designs`` (inconsistency, Q total - Q within designs), each with df and chi-square p.
        """
        lo, hi = self.tau2_ci
        i2, i2_lo, i2_hi = i2_higgins_thompson(self.q_total, self.df_total, self.ci_prob)

        def q_row(name, q, df):
            return {"quantity": name, "estimate": q, "lower": np.nan, "upper": np.nan, "df": df,
                    "p_value": float(stats.chi2.sf(q, df)) if df > 0 else np.nan, "method": "fixed-effect Q"}

        rows = [{"quantity": "tau2", "estimate": self.tau2, "lower": lo, "upper": hi, "df": np.nan, "p_value": np.nan,
                 "method": f"{self.method} (interval: Q-profile)"},
                {"quantity": "tau", "estimate": np.sqrt(self.tau2), "lower": np.sqrt(lo), "upper": np.sqrt(hi),
                 "df": np.nan, "p_value": np.nan, "method": f"{self.method} (interval: Q-profile)"},
                {"quantity": "I2", "estimate": i2, "lower": i2_lo, "upper": i2_hi, "df": self.df_total,
                 "p_value": np.nan, "method": "Higgins & Thompson 2002"},
                q_row("Q total", self.q_total, self.df_total),
                q_row("Q within designs", self.q_within, self.df_within),
                q_row("Q between designs", self.q_between, self.df_between)]
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (f"FrequentistFit({self.method}, {len(self.treatments)} treatments, tau2={self.tau2:.4g}, "
                f"Q={self.q_total:.4g} on {self.df_total} df)")


def frequentist(network: Network, method: str = "REML", *, lower_is_better: bool = True,
                ci_prob: float = CI_PROB) -> FrequentistFit:
    """The frequentist GLS network meta-analysis of a contrast-level network (netmeta's model, metafor's numbers).

    Parameters
    ----------
    network : Network
        Contrast-level evidence; multi-arm trials carry their within-study covariance (the reference arm's se).
    method : {"REML", "DL", "fixed"}
        The tau^2 estimator: restricted maximum likelihood (metafor's default), the generalised DerSimonian-Laird
        moment estimator (netmeta's default), or fixed effect (tau = 0).
    lower_is_better : bool
        Direction for P-scores (True for hazard ratios of harm, say).
    ci_prob : float
        Width of every interval (95% by default, as HTA reports them).

    Returns
    -------
    FrequentistFit
    """
    if not isinstance(network, Network):
        raise ModelSpecError(f"network={type(network).__name__}: the frequentist companion needs a contrast-level "
                             "nma.Network. Fix: build one with Network.from_contrasts or Network.from_ratios")
    if method not in METHODS:
        raise ModelSpecError(f"method={method!r} is not an estimator of tau^2 here. Fix: use one of {', '.join(METHODS)}")
    if not 0 < ci_prob < 1:
        raise ModelSpecError(f"ci_prob={ci_prob!r} must lie strictly between 0 and 1. Fix: e.g. ci_prob=0.95")
    X, y, V, C = network.design, network.y, network.covariance, network.multi_arm_correlation
    fe = gls(X, y, V)
    if method == "fixed":
        tau2 = 0.0
    elif fe.df < 1:
        raise ModelSpecError(f"method={method!r}: the network has no residual degrees of freedom ({len(y)} contrasts, "
                             f"{X.shape[1]} parameters), so tau^2 cannot be estimated. Fix: use method=\"fixed\"")
    else:
        tau2 = tau2_reml(X, y, V, C) if method == "REML" else tau2_dl(X, y, V, C)
    fit = fe if tau2 == 0 else gls(X, y, _marginal(V, C, tau2))
    D, _ = inconsistency_design(network)
    within = gls(D, y, V)
    return FrequentistFit(network.treatments, network.measure, method, fit.coef, fit.cov, float(tau2),
                          tau2_qprofile(X, y, V, C, ci_prob), fe.q, fe.df, within.q, within.df, len(network.studies),
                          len(y), lower_is_better, ci_prob)
