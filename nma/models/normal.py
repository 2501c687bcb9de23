"""Model fit as NICE DSU TSD2 reports it: residual deviance, leverage (pD per study), pD and DIC.

For contrast data the residual deviance of study s is (y_s - theta_s)' V_s^-1 (y_s - theta_s), with theta_s the
study's fitted contrasts: X_s d under fixed effect, the study-specific effects delta_s under random effects.
Our models integrate delta_s out, so its conditional given (d, tau) is used instead (Rao-Blackwellised):
delta_s | d, tau, y_s ~ N(m, S) with m = X_s d + A r, S = T - A T, A = T (V + T)^-1, T = tau^2 C, r = y - X_s d;
and E[dev_s | d, tau] = (y - m)' V^-1 (y - m) + tr(V^-1 S). pD uses TSD2's plug-in: mean deviance minus the
deviance at the posterior mean of the fitted values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nma.core.network import Network


def model_fit(network: Network, d: np.ndarray, tau: np.ndarray | None,
              design: np.ndarray | None = None) -> tuple[pd.DataFrame, dict]:
    """Per study: data points, mean residual deviance, leverage (pD_s), DIC contribution; and the totals.

    d: (n_draws, T-1) basic parameters; tau: (n_draws,) or None for fixed effect. With `design` (e.g. the
    unrelated-mean-effects model's), d holds that design's parameters and the fitted contrasts are d X'.
    """
    X = network.design if design is None else design
    y, V = network.y, network.covariance
    n = d.shape[0]
    theta = d @ X.T
    rows = []
    for k, blocks in network.block_groups.items():
        C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
        for s_idx, b in zip(network.study_index[k], blocks):
            Vb = V[np.ix_(b, b)]
            Vinv = np.linalg.inv(Vb)
            r = y[b][None] - theta[:, b]                                   # (n, k)
            if tau is None:
                m = theta[:, b]
                extra = np.zeros(n)
            else:
                T = (tau**2)[:, None, None] * C                            # (n, k, k)
                A = np.linalg.solve(np.swapaxes(Vb[None] + T, 1, 2), np.swapaxes(T, 1, 2)).swapaxes(1, 2)  # T (V+T)^-1
                m = theta[:, b] + np.einsum("nij,nj->ni", A, r)
                S = T - A @ T
                extra = np.einsum("ij,nji->n", Vinv, S)
            e = y[b][None] - m
            dev = np.einsum("ni,ij,nj->n", e, Vinv, e) + extra
            m_bar = m.mean(0)
            e_bar = y[b] - m_bar
            dev_at_mean = float(e_bar @ Vinv @ e_bar)
            mean_dev = float(dev.mean())
            rows.append({"study": network.studies[s_idx], "n_datapoints": k, "resdev": mean_dev,
                         "leverage": mean_dev - dev_at_mean, "dic": 2 * mean_dev - dev_at_mean})
    table = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(network.studies)}
    table = table.sort_values("study", key=lambda c: c.map(order)).reset_index(drop=True)
    totals = {"resdev": float(table["resdev"].sum()), "n_datapoints": int(table["n_datapoints"].sum()),
              "pD": float(table["leverage"].sum()), "DIC": float(table["dic"].sum())}
    return table, totals


def study_log_likelihood(network: Network, d: np.ndarray, tau: np.ndarray | None) -> np.ndarray:
    """Pointwise log-likelihood of each study at each draw: (n_draws, n_studies), for LOO and deviance.

    d: (n_draws, T-1) basic parameters; tau: (n_draws,) or None for fixed effect.
    """
    X, y, V = network.design, network.y, network.covariance
    n = d.shape[0]
    out = np.empty((n, len(network.studies)))
    theta = d @ X.T  # (n, contrasts)
    for k, rows in network.block_groups.items():
        C = np.full((k, k), 0.5) + 0.5 * np.eye(k)
        Vb = np.stack([V[np.ix_(b, b)] for b in rows])              # (S_k, k, k)
        t2 = (tau**2)[:, None, None, None] if tau is not None else 0.0
        cov = Vb[None] + t2 * C                                      # (n or 1, S_k, k, k)
        resid = y[rows][None] - theta[:, rows]                       # (n, S_k, k)
        cov = np.broadcast_to(cov, (n, *Vb.shape))
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, resid[..., None])[..., 0]
        logdet = 2 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        out[:, network.study_index[k]] = -0.5 * (k * np.log(2 * np.pi) + logdet + (z**2).sum(-1))
    return out
