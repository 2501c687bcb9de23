"""One posterior type for every engine: draws over (chain, draw, parameter), tau, and the exact mixture when there is one.

Summaries of a linear combination of the parameters (a contrast, a node-split's inconsistency factor) are exact
mixture quantiles when the exact engine produced the posterior and draw quantiles otherwise; every check asks
the Posterior and never which engine it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from nma.constants import PARAMETER, TREATMENT
from nma.errors import ModelSpecError
from nma.models.exact import ExactPosterior, exact_relative_effects
from nma.models.priors import TauPrior
from nma.posterior.summaries import relative_effects, scalar_summary

EXACT, MCMC = "exact", "mcmc"


def tau_spread_ratio(post, prior: TauPrior) -> float:
    """Posterior over prior spread of tau: SDs, or interquartile ranges when the prior has no SD (half-Cauchy).

    `post` is anything with `tau_summary(probs)` (a Posterior, or an ExactPosterior's mixture)."""
    if np.isfinite(prior.sd):
        return post.tau_summary(())["sd"] / prior.sd
    q = post.tau_summary((0.25, 0.75))
    lo, hi = prior.ppf(np.array([0.25, 0.75]))
    return float((q[0.75] - q[0.25]) / (hi - lo))


@dataclass(frozen=True, eq=False)
class Posterior:
    """Posterior of a model's parameters.

    `parameters` name the columns of `draws`: the basic parameters ``treatments[1:]`` (log-ratio or difference
    versus ``treatments[0]``) for the consistency model, or a design's parameters (a node-split's ``d_dir``, UME's
    pairs). `draws` is (chain, draw, parameter); `tau` (chain, draw) under random effects, else None.
    """

    treatments: tuple[str, ...]
    parameters: tuple[str, ...]
    draws: np.ndarray
    tau: np.ndarray | None
    engine: str
    exact: ExactPosterior | None = None
    idata: object = None                    # the sampler's InferenceData (MCMC); family-specific draws live there
    diagnostics: pd.DataFrame | None = None  # MCMC: r_hat, ess_bulk, ess_tail, mcse_mean per parameter
    divergences: int = 0
    problems: tuple[str, ...] = ()          # why the fit failed the convergence gate; empty when it passed

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def from_exact(cls, exact: ExactPosterior, *, parameters: tuple[str, ...], random: bool, seed: int,
                   chains: int, draws: int) -> Posterior:
        """Exact draws (tau from its grid posterior, then the parameters given tau) with `seed`, kept with the mixture."""
        d, tau = exact.sample(chains * draws, np.random.default_rng(seed))
        return cls(exact.treatments, tuple(parameters), d.reshape(chains, draws, -1),
                   tau.reshape(chains, draws) if random else None, EXACT, exact=exact)

    @classmethod
    def from_idata(cls, idata, *, treatments: tuple[str, ...], parameters: tuple[str, ...], name: str, random: bool,
                   diagnostics: pd.DataFrame | None = None, divergences: int = 0,
                   problems: tuple[str, ...] = ()) -> Posterior:
        post = idata["posterior"]
        dim = [d for d in post[name].dims if d not in ("chain", "draw")][0]
        draws = post[name].transpose("chain", "draw", dim).to_numpy()
        tau = post["tau"].transpose("chain", "draw").to_numpy() if random else None
        return cls(treatments, tuple(parameters), draws, tau, MCMC, idata=idata, diagnostics=diagnostics,
                   divergences=divergences, problems=tuple(problems))

    # ---- shapes ----------------------------------------------------------------------------------
    @property
    def chains(self) -> int:
        return self.draws.shape[0]

    @property
    def random(self) -> bool:
        return self.tau is not None

    @property
    def converged(self) -> bool:
        return not self.problems

    def flat(self) -> np.ndarray:
        """Draws flattened over chain and draw: (n, parameter)."""
        return self.draws.reshape(-1, self.draws.shape[-1])

    def flat_tau(self) -> np.ndarray | None:
        return None if self.tau is None else self.tau.reshape(-1)

    def all_treatment_draws(self) -> np.ndarray:
        """(n, treatment) with the reference's zero first: the effect of every treatment versus the reference."""
        self._require_basic()
        d = self.flat()
        return np.column_stack([np.zeros(len(d)), d])

    @property
    def d(self) -> xr.DataArray:
        """d over (chain, draw, treatment), the reference included (zero), selectable by label."""
        self._require_basic()
        ref = np.zeros(self.draws.shape[:2] + (1,))
        return xr.DataArray(np.concatenate([ref, self.draws], axis=-1), dims=("chain", "draw", TREATMENT),
                            coords={TREATMENT: list(self.treatments)}, name="d")

    def _require_basic(self) -> None:
        if self.parameters != tuple(self.treatments[1:]):
            raise ModelSpecError(f"this posterior is of a design's parameters ({', '.join(self.parameters)}), not of the "
                                 "basic parameters d: it has no effect of each treatment versus the reference")

    # ---- summaries of linear combinations ---------------------------------------------------------
    def combination(self, c: np.ndarray, probs: tuple[float, float, float]) -> dict[str, float]:
        """mean, sd, lower, median, upper of c . parameters: exact mixture quantiles, or draw quantiles."""
        c = np.asarray(c, float)
        if self.exact is not None:
            s = self.exact.summarise(c[None], probs)
            return {"mean": s["mean"][0], "sd": s["sd"][0], "lower": s[probs[0]][0], "median": s[probs[1]][0],
                    "upper": s[probs[2]][0]}
        x = self.flat() @ c
        q = np.quantile(x, probs)
        return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)), "lower": q[0], "median": q[1], "upper": q[2]}

    def p_value(self, c: np.ndarray) -> float:
        """Bayesian two-sided p of c . parameters: 2 min(P(> 0), P(< 0)); exact over the mixture when there is one."""
        c = np.asarray(c, float)
        if self.exact is not None:
            return self.exact.p_value(c)
        x = self.flat() @ c
        return 2 * min(float((x > 0).mean()), float((x < 0).mean()))

    def relative_effects(self, probs: tuple[float, float, float], seed: int) -> pd.DataFrame:
        """Every ordered pair (treatment vs comparator) on the model scale; `pred_*` for a new trial under random effects."""
        if self.exact is not None:
            return exact_relative_effects(self.exact, probs)
        return relative_effects(self.all_treatment_draws(), self.treatments, tau=self.flat_tau(), seed=seed)

    # ---- heterogeneity -----------------------------------------------------------------------------
    def tau_summary(self, probs: tuple[float, ...]) -> dict:
        """mean, sd and the `probs` quantiles of tau (keys: the probabilities)."""
        if self.exact is not None:
            return self.exact.tau_summary(probs)
        tau = self.flat_tau()
        q = np.quantile(tau, probs) if len(probs) else []
        return {"mean": float(tau.mean()), "sd": float(tau.std(ddof=1)), **dict(zip(probs, q))}

    def heterogeneity(self, probs: tuple[float, float, float]) -> pd.DataFrame | None:
        """One row, parameter tau: mean, sd, lower, median, upper (None under fixed effect)."""
        if not self.random:
            return None
        if self.exact is None:
            return scalar_summary(self.flat_tau(), "tau")
        s = self.exact.tau_summary(probs)
        return pd.DataFrame([{"parameter": "tau", "mean": s["mean"], "sd": s["sd"], "lower": s[probs[0]],
                              "median": s[probs[1]], "upper": s[probs[2]]}])

    def tau_sd_ratio(self, prior: TauPrior) -> float:
        return tau_spread_ratio(self, prior)

    # ---- ArviZ ----------------------------------------------------------------------------------------
    def posterior_dataset(self) -> xr.Dataset:
        """The `posterior` group of `to_idata`, built without importing ArviZ (1.5 s of a run that never samples):
        `d` over treatment (the basic parameters) or `beta` over parameter, and `tau`; ArviZ's coordinates and
        attributes (created_at, arviz_version), so posterior.nc reads back as ArviZ wrote it."""
        import datetime
        import importlib.metadata

        basic = self.parameters == tuple(self.treatments[1:])
        name, dim = ("d", TREATMENT) if basic else ("beta", PARAMETER)
        n_chain, n_draw = self.draws.shape[:2]
        coords = {"chain": np.arange(n_chain), "draw": np.arange(n_draw)}
        variables = {name: xr.DataArray(self.draws, dims=("chain", "draw", dim),
                                        coords={**coords, dim: list(self.parameters)})}
        if self.tau is not None:
            variables["tau"] = xr.DataArray(self.tau, dims=("chain", "draw"), coords=coords)
        attrs = {"created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                 "arviz_version": importlib.metadata.version("arviz")}
        return xr.Dataset(variables, attrs=attrs)

    def to_idata(self):
        """InferenceData: `d` over treatment (the basic parameters) or `beta` over parameter, and `tau`."""
        import arviz as az

        return az.InferenceData(posterior=self.posterior_dataset())
