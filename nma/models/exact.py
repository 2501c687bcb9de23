"""The exact engine: the posterior without MCMC.

Fixed effect: d | y is normal in closed form (conjugate normal prior, known sampling covariance).
Random effects: d | tau, y is normal too, and tau has a one-dimensional marginal posterior, which is
integrated on a grid. The posterior of every d and every contrast is then a Gaussian mixture with exact
means, SDs and quantiles (to grid accuracy). It is the independent answer MCMC is tested against.

The grid lives in the prior's probability scale u = F(tau): on it the prior is uniform, so heavy-tailed
priors (half-Cauchy) and bounded ones (uniform) are handled alike. A coarse pass finds where the
posterior mass is; a fine pass integrates there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from nma.core.network import Network
from nma.errors import NetworkDataError
from nma.models.spec import ModelSpec

#: Coarse grid points (locating the mass) and fine grid points (integrating it).
COARSE, FINE = 128, 512
#: Coarse nodes below max - LOG_DROP in log posterior are treated as carrying no mass (e^-40 ~ 4e-18).
LOG_DROP = 40.0
#: Fine nodes with weight below this fraction of the total are dropped before summarising (mass lost < 1e-9).
MIN_WEIGHT = 1e-12


@dataclass(frozen=True, eq=False)
class ExactPosterior:
    """Posterior of d as a mixture over tau nodes: weight[g], mean[g] (p,), cov[g] (p, p).

    p is the number of basic parameters (T - 1), or of the design's columns when fitted with one.
    """

    treatments: tuple[str, ...]      # all treatments, reference first
    tau: np.ndarray                  # (G,) nodes; [0.] for fixed effect
    weight: np.ndarray               # (G,) posterior probabilities, summing to 1
    mean: np.ndarray                 # (G, p)
    cov: np.ndarray                  # (G, p, p)
    cdf_u: np.ndarray | None = None  # (G,) for random effects: the grid in prior-probability scale
    log_marginal: float = np.nan     # log p(y) up to the constant shared by all tau

    # ---- moments and quantiles of linear combinations -----------------------------------------
    def combination(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-node means (G, m) and SDs (G, m) of C d, for rows of C (m, p)."""
        m = self.mean @ C.T
        v = (np.matmul(C[None], self.cov) * C[None]).sum(-1)   # c' Sigma_g c for every row c, via BLAS
        return m, np.sqrt(np.maximum(v, 0.0))

    def pairwise(self, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Per-node means and SDs of d_i - d_j over all treatments (index 0 = reference), O(G x pairs)."""
        G, p = self.mean.shape
        M = np.concatenate([np.zeros((G, 1)), self.mean], axis=1)
        S = np.zeros((G, p + 1, p + 1))
        S[:, 1:, 1:] = self.cov
        i, j = np.array(pairs).T
        v = S[:, i, i] + S[:, j, j] - 2 * S[:, i, j]
        return M[:, i] - M[:, j], np.sqrt(np.maximum(v, 0.0))

    def summarise(self, C: np.ndarray, probs: tuple[float, ...], pieces=None) -> dict[str, np.ndarray]:
        """Exact mean, SD and quantiles of each row's combination C d (or of given per-node means and SDs)."""
        m, s = pieces if pieces is not None else self.combination(C)
        w = self.weight[:, None]
        mean = (w * m).sum(0)
        sd = np.sqrt(np.maximum((w * (s**2 + m**2)).sum(0) - mean**2, 0.0))
        out = {"mean": mean, "sd": sd}
        for q in probs:
            out[q] = mixture_quantile(self.weight, m, s, q, mean, sd)
        return out

    def p_value(self, c: np.ndarray) -> float:
        """Bayesian two-sided p of c . parameters, 2 min(P(> 0), P(< 0)), exact over the mixture: sum_g w_g Phi(m_g / s_g)."""
        m, s = self.combination(np.asarray(c, float)[None])
        above = float((self.weight * special.ndtr(m[:, 0] / s[:, 0])).sum())
        return 2 * min(above, 1 - above)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Exact draws: tau from its grid posterior, then d | tau. Returns d (n, p) and tau (n,)."""
        idx = rng.choice(len(self.weight), size=n, p=self.weight)
        chol = np.linalg.cholesky(self.cov)
        z = rng.standard_normal((n, self.mean.shape[1]))
        d = self.mean[idx] + np.einsum("nij,nj->ni", chol[idx], z)
        tau = self.tau[idx]
        if self.cdf_u is not None and len(self.tau) > 1:
            # jitter within the node's cell so tau draws are continuous (d|tau varies slowly within a cell)
            lo = np.interp(idx - 0.5, np.arange(len(self.tau)), self.tau)
            hi = np.interp(idx + 0.5, np.arange(len(self.tau)), self.tau)
            tau = lo + rng.random(n) * (hi - lo)
        return d, tau

    def tau_summary(self, probs: tuple[float, ...]) -> dict[str, float]:
        """Mean, SD and quantiles of tau (piecewise-linear CDF between nodes)."""
        w, t = self.weight, self.tau
        mean = float((w * t).sum())
        sd = float(np.sqrt(max((w * t**2).sum() - mean**2, 0.0)))
        cdf = np.cumsum(w) - 0.5 * w
        out = {"mean": mean, "sd": sd}
        for q in probs:
            out[q] = float(np.interp(q, cdf, t))
        return out


def mixture_quantile(w: np.ndarray, m: np.ndarray, s: np.ndarray, q: float, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Solve sum_g w_g Phi((x - m_g)/s_g) = q for each column, by safeguarded Newton from the normal guess."""
    x = mean + sd * special.ndtri(q)
    lo = (m - 12 * s).min(0)
    hi = (m + 12 * s).max(0)
    for _ in range(100):
        z = (x[None] - m) / s
        f = (w[:, None] * special.ndtr(z)).sum(0) - q
        dens = (w[:, None] * np.exp(-0.5 * z**2) / (s * np.sqrt(2 * np.pi))).sum(0)
        lo = np.where(f < 0, x, lo)
        hi = np.where(f > 0, x, hi)
        step = f / np.maximum(dens, 1e-300)
        new = x - step
        bad = (new <= lo) | (new >= hi) | ~np.isfinite(new)
        new = np.where(bad, 0.5 * (lo + hi), new)
        converged = np.all(np.abs(new - x) < 1e-10)
        x = new
        if converged:
            return x
    return x


def _conditional(network: Network, spec: ModelSpec, tau: np.ndarray, design: np.ndarray | None = None):
    """For each tau: posterior mean and covariance of the parameters, and log p(y | tau) up to a constant.

    `design` (contrasts x parameters) replaces the consistency design, e.g. with a node-split's direct parameter
    or the unrelated-mean-effects pairs; each parameter gets the same normal prior as d.
    """
    X = network.design if design is None else np.asarray(design, float)
    y, V = network.y, network.covariance
    p = X.shape[1]
    G = len(tau)
    P = np.broadcast_to(np.eye(p) / spec.d_prior_sd**2, (G, p, p)).copy()
    b = np.zeros((G, p))
    quad = np.zeros(G)
    logdet = np.zeros(G)
    for k, rows in network.block_groups.items():
        C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
        Vb = np.stack([V[np.ix_(r, r)] for r in rows])             # (S, k, k)
        Xb = X[rows]                                               # (S, k, p)
        yb = y[rows]                                               # (S, k)
        if k == 1:
            var = Vb[None, :, 0, 0] + tau[:, None] ** 2            # (G, S)
            w = 1.0 / var
            x1 = Xb[:, 0, :]                                       # (S, p)
            P += np.matmul(x1.T[None] * w[:, None, :], x1)
            b += (w * yb[None, :, 0]) @ x1
            quad += (w * yb[None, :, 0] ** 2).sum(1)
            logdet += np.log(var).sum(1)
        else:
            cov = Vb[None] + tau[:, None, None, None] ** 2 * C     # (G, S, k, k)
            Winv = np.linalg.inv(cov)
            WX = np.einsum("gskl,slj->gskj", Winv, Xb)            # (G, S, k, p)
            P += np.tensordot(WX, Xb, axes=([1, 2], [0, 1])).transpose(0, 2, 1)
            Wy = np.einsum("gskl,sl->gsk", Winv, yb)
            b += np.tensordot(Wy, Xb, axes=([1, 2], [0, 1]))
            quad += np.tensordot(Wy, yb, axes=([1, 2], [0, 1]))
            logdet += np.linalg.slogdet(cov)[1].sum(1)
    L = np.linalg.cholesky(P)
    mean = np.linalg.solve(P, b[..., None])[..., 0]
    cov = np.linalg.inv(P)
    cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
    logdet_P = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)
    loglik = -0.5 * (logdet + quad - np.einsum("gi,gi->g", b, mean) + logdet_P)
    return mean, cov, loglik


def fit_exact(network: Network, spec: ModelSpec, design: np.ndarray | None = None) -> ExactPosterior:
    """The exact posterior of d (and tau) for a contrast network under `spec`.

    With `design`, the posterior of that design's parameters instead (its columns, in order); the study blocks,
    covariance and heterogeneity structure stay the network's.
    """
    if design is not None and (np.ndim(design) != 2 or len(design) != len(network.y)):
        raise NetworkDataError(f"a design of shape {np.shape(design)} does not fit this network: it needs one row per "
                               f"contrast ({len(network.y)}) and one column per parameter")
    if spec.effects == "fixed":
        mean, cov, loglik = _conditional(network, spec, np.zeros(1), design)
        return ExactPosterior(network.treatments, np.zeros(1), np.ones(1), mean, cov, None, float(loglik[0]))
    prior = spec.tau_prior
    u_top = 1.0 if np.isfinite(prior.upper) else 1.0 - 1e-9
    u = (np.arange(COARSE) + 0.5) / COARSE * u_top
    _, _, coarse = _conditional(network, spec, prior.ppf(u), design)
    keep = np.flatnonzero(coarse > coarse.max() - LOG_DROP)
    step = u_top / COARSE
    u_lo = max(u[keep[0]] - step, 0.0)
    u_hi = min(u[keep[-1]] + step, u_top)
    # fine grid in u: the prior is uniform there, so posterior weight = likelihood x trapezoid width
    u_fine = np.linspace(u_lo, u_hi, FINE)
    tau = prior.ppf(u_fine)
    mean, cov, loglik = _conditional(network, spec, tau, design)
    trap = np.full(FINE, u_fine[1] - u_fine[0])
    trap[[0, -1]] *= 0.5
    logw = loglik + np.log(trap)
    top = logw.max()
    w = np.exp(logw - top)
    total = w.sum()
    keep = w >= MIN_WEIGHT * total
    return ExactPosterior(network.treatments, tau[keep], w[keep] / w[keep].sum(), mean[keep], cov[keep], u_fine[keep],
                          float(top + np.log(total)))


def pairwise_matrix(n_treatments: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Rows c with c.d = d_i - d_j for every ordered pair (i, j), i != j, over all treatments (reference = 0)."""
    pairs = [(i, j) for i in range(n_treatments) for j in range(n_treatments) if i != j]
    C = np.zeros((len(pairs), n_treatments - 1))
    for r, (i, j) in enumerate(pairs):
        if i > 0:
            C[r, i - 1] += 1.0
        if j > 0:
            C[r, j - 1] -= 1.0
    return C, pairs


def exact_relative_effects(post: ExactPosterior, probs: tuple[float, float, float]) -> pd.DataFrame:
    """Every ordered pair (treatment vs comparator) on the log scale, from the mixture (no sampling).

    With equal-tailed probabilities (lower = 1 - upper, median 0.5) each unordered pair is solved once: j vs i is
    the mirror image of i vs j (mean, median and bounds negated and swapped), which halves the quantile inversions
    (3,540 ordered pairs at T = 60)."""
    t = post.treatments
    C, pairs = pairwise_matrix(len(t))
    symmetric = abs(probs[0] + probs[2] - 1) < 1e-12 and abs(probs[1] - 0.5) < 1e-12
    half = [(i, j) for i, j in pairs if i > j] if symmetric else pairs
    m, sd = post.pairwise(half)
    s = post.summarise(C, probs, pieces=(m, sd))
    cols = {"mean": s["mean"], "sd": s["sd"], "lower": s[probs[0]], "median": s[probs[1]], "upper": s[probs[2]]}
    if post.cdf_u is not None:  # random effects: a new trial adds N(0, tau^2) at each node
        p = post.summarise(C, (probs[0], probs[2]), pieces=(m, np.sqrt(sd**2 + post.tau[:, None] ** 2)))
        cols["pred_lower"], cols["pred_upper"] = p[probs[0]], p[probs[2]]
    if symmetric:
        mirror = {"mean": "mean", "sd": "sd", "lower": "upper", "median": "median", "upper": "lower",
                  "pred_lower": "pred_upper", "pred_upper": "pred_lower"}
        row = {pair: k for k, pair in enumerate(half)}
        full = {}
        for name, values in cols.items():
            sign = 1.0 if name == "sd" else -1.0
            full[name] = np.array([values[row[(i, j)]] if (i, j) in row else sign * cols[mirror[name]][row[(j, i)]]
                                   for i, j in pairs])
        cols = full
    return pd.DataFrame({"treatment": [t[i] for i, _ in pairs], "comparator": [t[j] for _, j in pairs], **cols})


#: The rule behind every direct estimate (the league table's direct triangle, node-split's direct rows), for captions.
DIRECT_RULE = ("Direct estimates use only the trials that compare the pair: a comparison made in one trial shows "
               "that trial's own estimate and 95% CI (as published, no random-effects widening); several trials are "
               "pooled by inverse variance with the between-trial SD tau integrated over its posterior from the full "
               "network (tau = 0 under fixed effect).")


def pair_contrasts(network: Network, a: str, b: str, studies: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each study's own estimate of b vs a on the model scale and its standard error: (y, se), one entry per study.

    A multi-arm trial contributes y_b - y_a with variance var_a + var_b - 2 cov(a, b), the covariance being the
    reference arm's variance when neither arm is the study's reference.
    """
    ys, ses = [], []
    for study in studies:
        g = network.contrasts[network.contrasts["study"].astype(str) == study]
        ref = g[g["y"].isna()].iloc[0]
        arms = g[g["y"].notna()]
        y = {ref["treatment"]: 0.0, **dict(zip(arms["treatment"], arms["y"]))}
        var = {ref["treatment"]: 0.0, **dict(zip(arms["treatment"], arms["se"] ** 2))}
        cov = 0.0 if ref["treatment"] in (a, b) else float(ref["se"]) ** 2
        ys.append(y[b] - y[a])
        ses.append(np.sqrt(var[a] + var[b] - 2 * cov))
    return np.array(ys, float), np.array(ses, float)


def network_tau(network: Network, spec: ModelSpec, posterior=None) -> tuple[np.ndarray, np.ndarray]:
    """The full network's posterior of tau as (nodes, weights summing to 1): tau = 0 under fixed effect.

    `posterior` is the analysis's fitted posterior (an ExactPosterior, or a Posterior with an exact mixture or tau
    draws); without one, the exact posterior of `network` under `spec`.
    """
    if spec.effects == "fixed":
        return np.zeros(1), np.ones(1)
    exact = getattr(posterior, "exact", posterior)
    if isinstance(exact, ExactPosterior):
        return exact.tau, exact.weight
    draws = posterior.flat_tau() if posterior is not None and hasattr(posterior, "flat_tau") else None
    if draws is not None:
        return np.asarray(draws, float), np.full(len(draws), 1.0 / len(draws))
    post = fit_exact(network, spec)
    return post.tau, post.weight


def pooled_direct(y: np.ndarray, se: np.ndarray, tau: np.ndarray, weight: np.ndarray,
                  probs: tuple[float, ...]) -> dict[str, float]:
    """Mean, SD and `probs` quantiles of the inverse-variance pooled effect of studies (y, se), flat prior on the effect.

    One study: exactly N(y, se^2). Several: given tau the pooled effect is N(sum w y / sum w, 1 / sum w) with
    w = 1 / (se^2 + tau^2); tau is integrated over (`tau`, `weight`), the network's posterior, as a mixture.
    """
    y, se = np.atleast_1d(y), np.atleast_1d(se)
    if len(y) == 1:
        tau, weight = np.zeros(1), np.ones(1)
    w = 1.0 / (se[None, :] ** 2 + np.asarray(tau, float)[:, None] ** 2)      # (G, S)
    m = ((w * y[None, :]).sum(1) / w.sum(1))[:, None]                         # (G, 1)
    s = (w.sum(1) ** -0.5)[:, None]
    weight = np.asarray(weight, float) / np.sum(weight)
    mean = np.array([float(weight @ m[:, 0])])
    sd = np.sqrt(np.maximum(weight @ (s[:, 0] ** 2 + m[:, 0] ** 2) - mean**2, 0.0))
    out = {"mean": float(mean[0]), "sd": float(sd[0])}
    for q in probs:
        out[q] = float(mixture_quantile(weight, m, s, q, mean, sd)[0])
    return out


def published_interval(network: Network, a: str, b: str, study: str,
                       probs: tuple[float, float, float]) -> tuple[float, float] | None:
    """The interval of b vs a that `study` printed (log of its ratio CI), when the contrast table holds it at the
    level of `probs`; None otherwise. A rounded published CI is rarely symmetric on the log scale, so y -/+ z se can
    differ from it in the last printed decimal: a reviewer comparing a cell with the paper must see the paper's CI."""
    c = network.contrasts
    if not network.measure.is_ratio or not {"ci_lower", "ci_upper"} <= set(c.columns):
        return None
    g = c[c["study"].astype(str) == study]
    ref = g[g["y"].isna()]["treatment"]
    if len(ref) != 1 or ref.iloc[0] not in (a, b):
        return None                        # a multi-arm trial's pair between two non-reference arms: not printed
    arm = g[(g["treatment"] == (b if ref.iloc[0] == a else a)) & g["y"].notna()]
    if len(arm) != 1 or pd.isna(arm["ci_lower"].iloc[0]) or pd.isna(arm["ci_upper"].iloc[0]):
        return None
    level = float(arm["ci_level"].iloc[0]) if "ci_level" in arm and pd.notna(arm["ci_level"].iloc[0]) else 0.95
    if abs(level - (probs[2] - probs[0])) > 1e-9:
        return None
    lo, hi = np.log(float(arm["ci_lower"].iloc[0])), np.log(float(arm["ci_upper"].iloc[0]))
    return (lo, hi) if ref.iloc[0] == a else (-hi, -lo)


def direct_estimates(network: Network, spec: ModelSpec, probs: tuple[float, float, float],
                     posterior=None) -> pd.DataFrame:
    """For each directly compared pair, the estimate from only the trials that compare it (`DIRECT_RULE`).

    Parameters
    ----------
    network : Network
        The contrast-level network of the analysis.
    spec : ModelSpec
        Its model: fixed effect pools with tau = 0, random effects with the network's tau posterior.
    probs : tuple of float
        (lower, median, upper) probabilities, e.g. ``probs_for(CI_PROB)``.
    posterior : ExactPosterior or Posterior, optional
        The full network's fitted posterior, whose tau posterior pools several trials; fitted exactly when omitted.

    Returns
    -------
    pandas.DataFrame
        Every ordered pair with direct evidence, on the model scale: treatment, comparator, mean, sd, lower, median,
        upper, n_studies. A pair compared in one trial is that trial's estimate: mean = median = y, sd = se,
        lower/upper = the trial's printed CI when the table holds it (`published_interval`), else y -/+ z se. The effect has a flat prior (the data's own
        estimate; the analysis's d prior is vague by design).
    """
    tau, weight = network_tau(network, spec, posterior)
    rows = []
    for comp in network.comparisons.itertuples(index=False):
        a, b = comp.treatment_a, comp.treatment_b
        studies = comp.studies.split(", ")
        y, se = pair_contrasts(network, a, b, studies)
        s = pooled_direct(y, se, tau, weight, probs)
        printed = published_interval(network, a, b, studies[0], probs) if len(studies) == 1 else None
        if printed is not None:
            s[probs[0]], s[probs[2]] = printed
        for sign, (t, c) in ((1, (b, a)), (-1, (a, b))):
            lo, hi = sign * s[probs[0]], sign * s[probs[2]]
            rows.append({"treatment": t, "comparator": c, "mean": sign * s["mean"], "sd": s["sd"],
                         "lower": min(lo, hi), "median": sign * s[probs[1]], "upper": max(lo, hi),
                         "n_studies": comp.n_studies})
    return pd.DataFrame(rows)
