"""`nma.fit(network, ...)` and the `Fit` it returns: the package's API from a network to every result `nma run` writes.

A Fit holds the network, the model specification, the family, the fit settings and the Posterior, and computes
its tables on demand (numbers, never strings): relative effects, ranks, the league table, heterogeneity, model fit
and the model checks. `Fit.save` writes exactly the files `nma run` writes; the CLI is a thin layer over it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from nma.checks.model_checks import ModelChecks, checks_not_run, model_checks
from nma.checks.sensitivity import tau_not_identified
from nma.constants import CI_PROB, COMPARATOR, STUDY, TREATMENT
from nma.errors import ConvergenceError, ConvergenceWarning, ModelSpecError, ModelWarning
from nma.models.families import ENGINES, Family, FitSettings, check_settings, family_of
from nma.models.posterior import Posterior
from nma.models.priors import parse_tau_prior
from nma.models.sampler import SamplerConfig
from nma.models.spec import DEFAULT_D_PRIOR_SD, DEFAULT_TAU_PRIOR, EFFECTS, ModelSpec
from nma.posterior.summaries import add_ratio_scale, prob_better, probs_for, ranks

PROBS = probs_for(CI_PROB)
#: Said when the data cannot inform tau at all; the fixed-effect result is computed beside the random-effects one.
TAU_NOT_IDENTIFIED = ("tau is not identified by the data: no comparison has more than one trial, so its posterior is "
                      "its prior and the random-effects intervals reflect that prior. The fixed-effect result is "
                      "written beside it (relative_effects_fixed.csv).")


@dataclass(frozen=True)
class Note:
    """One warning of a fit, as the CLI prints it and warnings.txt records it (`str(note)`)."""

    text: str
    category: type[Warning] = ModelWarning

    def __str__(self) -> str:
        return self.text


def fit(network, *, effects: str = "random", tau_prior: str = DEFAULT_TAU_PRIOR, d_prior_sd: float = DEFAULT_D_PRIOR_SD,
        lower_is_better: bool | None = None, engine: str = "auto", seed: int = SamplerConfig.seed,
        chains: int = SamplerConfig.chains, draws: int = SamplerConfig.draws, tune: int = SamplerConfig.tune,
        target_accept: float = SamplerConfig.target_accept, allow_unconverged: bool = False,
        spec: ModelSpec | None = None, sampler: SamplerConfig | None = None) -> Fit:
    """Fit a network meta-analysis.

    Parameters
    ----------
    network : Network or ArmNetwork
        From ``Network.from_ratios``, ``Network.from_contrasts``, ``ArmNetwork.from_arms`` or ``load_evidence(...).select``.
    effects : {"random", "fixed"}
    tau_prior : str
        Prior of the between-study SD, e.g. ``"half-normal(0.5)"``, ``"uniform(0, 2)"``, ``"turner2015_general"``.
    d_prior_sd : float
        SD of the normal prior on each basic parameter (model scale: log-ratio or difference).
    lower_is_better : bool, optional
        Ranking direction; default True for HR-like outcomes, False for binary response outcomes (OR).
    engine : {"auto", "exact", "mcmc"}
        "exact": closed form / quadrature (normal contrasts only); "mcmc": PyMC NUTS; "auto": exact where it exists.
    seed, chains, draws, tune, target_accept
        Sampler settings; the exact engine draws chains x draws exact samples with `seed`.
    allow_unconverged : bool
        Return an MCMC fit that fails the convergence gate (stamped unconverged) instead of raising ConvergenceError.
    spec, sampler : optional
        A ready ModelSpec / SamplerConfig (the CLI's route); they replace the keyword arguments above.

    Returns
    -------
    Fit
    """
    family = family_of(network)
    if spec is None:
        if effects not in EFFECTS:
            raise ModelSpecError(f"effects={effects!r}: use one of {', '.join(map(repr, EFFECTS))}")
        if isinstance(d_prior_sd, bool) or not isinstance(d_prior_sd, (int, float)) or not d_prior_sd > 0:
            raise ModelSpecError(f"d_prior_sd={d_prior_sd!r} must be a positive number, e.g. 10 (vague on the model scale)")
        spec = ModelSpec(effects=effects, d_prior_sd=float(d_prior_sd), tau_prior=parse_tau_prior(tau_prior, "tau_prior"),
                         lower_is_better=(family.lower_is_better_default if lower_is_better is None
                                          else bool(lower_is_better)),
                         measure=network.measure.code)
    spec = replace(spec, measure=network.measure.code, likelihood=family.describe())
    if sampler is None:
        for name, value, low in (("seed", seed, 0), ("chains", chains, 1), ("draws", draws, 1), ("tune", tune, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ModelSpecError(f"{name}={value!r} must be a whole number >= {low}")
        if not 0.5 <= target_accept < 1:
            raise ModelSpecError(f"target_accept={target_accept!r} must be in [0.5, 1), e.g. 0.95")
        sampler = SamplerConfig(seed=seed, chains=chains, draws=draws, tune=tune, target_accept=target_accept)
    if engine == "auto":
        engine = "exact" if family.has_exact else "mcmc"
    if engine not in ENGINES:
        raise ModelSpecError(f"engine={engine!r}: use one of 'auto', 'exact', 'mcmc'")
    if engine == "exact" and not family.has_exact:
        raise ModelSpecError(f"engine='exact' does not apply to a {family.name} network: its closed form needs normal "
                             "likelihoods. Fix: engine='mcmc' (or 'auto')")
    settings = FitSettings(engine=engine, sampler=sampler)
    notes: list[Note] = []
    if spec.effects == "random" and tau_not_identified(network) is not None:
        notes.append(Note(f"ModelWarning: {TAU_NOT_IDENTIFIED}", ModelWarning))
        warnings.warn(TAU_NOT_IDENTIFIED, ModelWarning, stacklevel=2)
    posterior = family.fit(network, spec, settings)
    if posterior.problems:
        message = unconverged_message(posterior, spec)
        if not allow_unconverged:
            raise ConvergenceError(message + "\nNo results were written. Fix: increase [sampler] draws/tune, or change "
                                   "the prior; [model] allow_unconverged = true writes results stamped unconverged.")
        notes.append(Note("UNCONVERGED: " + message.splitlines()[0], ConvergenceWarning))
        warnings.warn(message.splitlines()[0], ConvergenceWarning, stacklevel=2)
    return Fit(network, spec, family, settings, posterior, tuple(notes))


def unconverged_message(posterior: Posterior, spec: ModelSpec) -> str:
    hint = ""
    if spec.effects == "random" and spec.tau_prior.kind == "half-cauchy":
        hint = (" A half-Cauchy tau prior has a heavy tail that NUTS cannot explore in a sparse network; "
                "try tau_prior = \"half-normal(0.5)\" or an informative log-normal preset.")
    return ("the fit failed the convergence gate (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences): "
            + "; ".join(posterior.problems) + "." + hint + "\n" + posterior.diagnostics.to_string(index=False))


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted network meta-analysis. Tables are on the model scale (log-ratio or difference) with `exp_*` columns
    on the ratio scale for ratio measures; 95% equal-tailed credible intervals (CI_PROB)."""

    network: object
    spec: ModelSpec
    family: Family
    settings: FitSettings
    posterior: Posterior
    notes: tuple[Note, ...] = ()
    nodesplit: bool = True            # run node-splitting in checks() (UME and sensitivity always run)
    run_checks: bool = True           # False: checks() runs nothing and says so ([model] checks = false)

    @property
    def engine(self) -> str:
        return self.settings.engine

    @property
    def measure(self):
        return self.network.measure

    @property
    def treatments(self) -> tuple[str, ...]:
        return self.network.treatments

    @property
    def converged(self) -> bool:
        return self.posterior.converged

    # ---- results ----------------------------------------------------------------------------------
    @cached_property
    def _relative(self) -> pd.DataFrame:
        return add_ratio_scale(self.posterior.relative_effects(PROBS, self.settings.seed), self.measure)

    def relative_effects(self, comparator: str | None = None) -> pd.DataFrame:
        """Every ordered pair, treatment versus comparator.

        Columns: ``treatment, comparator, mean, sd, lower, median, upper`` (model scale: log-ratio or difference;
        95% CrI), under random effects ``pred_lower, pred_upper`` (a new trial's effect), and for ratio measures
        ``exp_median, exp_lower, exp_upper`` (and ``exp_pred_*``) on the ratio scale. `comparator` keeps only the
        rows against that treatment.
        """
        rel = self._relative
        if comparator is None:
            return rel.copy()
        self._known(comparator, "comparator")
        return rel[rel[COMPARATOR] == comparator].reset_index(drop=True)

    @cached_property
    def _ranks(self) -> pd.DataFrame:
        return ranks(self.posterior.all_treatment_draws(), self.treatments, self.spec.lower_is_better)

    def ranks(self) -> pd.DataFrame:
        """Columns: ``treatment, mean_rank, median_rank, rank_lower, rank_upper, sucra, p_best, sucra_lower,
        sucra_upper, p_rank_1 ... p_rank_T`` (rank 1 = best, in the direction of `lower_is_better`)."""
        return self._ranks.copy()

    def league_table(self, order: list[str] | None = None) -> pd.DataFrame:
        """Long form, one row per ordered pair: ``treatment, comparator, median, lower, upper`` on the shown scale
        (ratio for ratio measures, difference otherwise) and ``p_better`` (P(treatment better than comparator))."""
        order = list(order) if order is not None else list(self.treatments)
        for t in order:
            self._known(t, "order")
        rel = self.relative_effects()
        pb = prob_better(self.posterior.all_treatment_draws(), self.spec.lower_is_better)
        pos = {t: i for i, t in enumerate(self.treatments)}
        out = pd.DataFrame({TREATMENT: rel[TREATMENT], COMPARATOR: rel[COMPARATOR],
                            **{c: self.measure.to_shown(rel[c].to_numpy()) for c in ("median", "lower", "upper")},
                            "p_better": [pb[pos[t], pos[c]] for t, c in zip(rel[TREATMENT], rel[COMPARATOR])]})
        rank = {t: i for i, t in enumerate(order)}
        out = out[out[TREATMENT].isin(rank) & out[COMPARATOR].isin(rank)]
        return out.sort_values([TREATMENT, COMPARATOR], key=lambda s: s.map(rank)).reset_index(drop=True)

    def heterogeneity(self) -> pd.DataFrame | None:
        """Random effects: one row ``parameter (tau), mean, sd, lower, median, upper``; None under fixed effect."""
        return self.posterior.heterogeneity(PROBS)

    @cached_property
    def _model_fit(self) -> tuple[pd.DataFrame, dict, tuple[Note, ...]]:
        from nma.models.fitstats import loo_summary

        table, totals = self.family.model_fit(self.network, self.posterior)
        notes = []
        try:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                post = self._groups["posterior"]
                loo = loo_summary(self._log_likelihood["y"].to_numpy(), [v.to_numpy() for v in post.data_vars.values()])
            if loo["n_pareto_k_above_0.7"]:
                notes.append(Note(f"PSIS-LOO: {loo['n_pareto_k_above_0.7']} stud(ies) with Pareto k > 0.7 (max "
                                  f"{loo['max_pareto_k']:.2f}); LOO is unreliable for them (see fit.csv)"))
            table["pareto_k"] = loo.pop("pareto_k")
            totals.update(loo)
        except Exception as err:  # LOO is a diagnostic; its failure must not hide the fit
            notes.append(Note(f"PSIS-LOO could not be computed: {err}"))
        total_row = {STUDY: "TOTAL", **{("leverage" if k == "pD" else "dic" if k == "DIC" else k): v for k, v in totals.items()}}
        return pd.concat([table, pd.DataFrame([total_row])], ignore_index=True), totals, tuple(notes)

    def model_fit(self) -> pd.DataFrame:
        """TSD2 model fit. Per study: ``study, n_datapoints, resdev`` (posterior mean residual deviance), ``leverage``
        (pD per study), ``dic``, ``pareto_k`` (PSIS-LOO); a ``TOTAL`` row with total resdev, pD (as leverage), DIC
        (as dic), ``elpd_loo, se_elpd_loo, p_loo, looic, max_pareto_k, n_pareto_k_above_0.7``."""
        return self._model_fit[0].copy()

    @cached_property
    def fixed(self) -> Fit | None:
        """The fixed-effect companion of a random-effects fit whose tau the data cannot identify (else None), fitted
        on the checks' engine (exact where it exists) and behind the convergence gate."""
        if self.spec.effects != "random" or tau_not_identified(self.network) is None:
            return None
        settings = check_settings(self.family, self.settings)
        spec = replace(self.spec, effects="fixed")
        post = self.family.fit(self.network, spec, settings)
        if post.problems:
            return None
        return Fit(self.network, spec, self.family, settings, post)

    def _fixed_notes(self) -> tuple[Note, ...]:
        if self.spec.effects != "random" or tau_not_identified(self.network) is None or self.fixed is not None:
            return ()
        return (Note("The fixed-effect fit failed the convergence gate twice and is not reported", ConvergenceWarning),)

    @cached_property
    def _checks(self) -> ModelChecks:
        if not self.run_checks:
            return checks_not_run(self.network)
        fixed = self.fixed.posterior if self.fixed is not None else None
        checks = model_checks(self.network, self.spec, self.settings, nodesplit=self.nodesplit, analysis=self.posterior,
                              fit_table=self.model_fit(), fixed=fixed, family=self.family)
        for note in checks.notes:
            warnings.warn(note, ModelWarning, stacklevel=3)
        return checks

    def cross_check(self) -> tuple[pd.DataFrame, list[str]]:
        """This fit's exact posterior against an MCMC refit of the same model, in MCSE units
        (`nma.checks.cross_check`: columns parameter, exact_mean, mcmc_mean, mcse, z, ess_bulk; and its notes)."""
        if self.engine != "exact":
            raise ModelSpecError("cross_check() compares the exact engine with MCMC: fit with engine='exact' (or 'auto' "
                                 "on a normal-likelihood network) first. Fix: nma.fit(network, engine='exact')")
        from nma.checks.cross_check import cross_check

        return cross_check(self.network, self.spec, replace(self.settings, retry=True), self.family, self.posterior)

    def checks(self) -> ModelChecks:
        """Node-splitting, UME versus consistency and tau-prior sensitivity: the tables `nma run` writes
        (``nodesplit``, ``ume``, ``sensitivity``; see the README for their columns) and their notes."""
        return self._checks

    @property
    def warnings(self) -> tuple[Note, ...]:
        """Every warning the CLI prints for this fit, in its order (checks' notes once checks() has run)."""
        checks = tuple(Note(n) for n in self._checks.notes) if "_checks" in self.__dict__ else ()
        return self.notes + self._model_fit[2] + self._fixed_notes() + checks

    # ---- ArviZ ------------------------------------------------------------------------------------
    @cached_property
    def _log_likelihood(self):
        """The `log_likelihood` group: ``y`` over (chain, draw, study), each study's pointwise log-likelihood."""
        import xarray as xr

        post = self._groups_of_engine["posterior"]
        ll = self.family.log_likelihood(self.network, self.posterior)
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        ll = ll[: n_chain * n_draw].reshape(n_chain, n_draw, -1)
        return xr.Dataset({"y": (("chain", "draw", STUDY), ll)},
                          coords={"chain": post["chain"].values, "draw": post["draw"].values,
                                  STUDY: [str(s) for s in self.network.studies]})

    @cached_property
    def _groups_of_engine(self) -> dict:
        """The engine's own groups (the sampler's InferenceData, or the exact draws' posterior), in their order."""
        idata = self.posterior.idata
        if idata is None:
            return {"posterior": self.posterior.posterior_dataset()}
        return {g: idata[g] for g in idata.groups() if g != "log_likelihood"}

    @cached_property
    def _groups(self) -> dict:
        """The groups of `idata` as xarray Datasets, in its order: what posterior.nc holds. Fit.save writes these,
        so a run on the exact engine never imports ArviZ (1.5 s)."""
        if self.posterior.idata is None:
            return {**self._groups_of_engine, "log_likelihood": self._log_likelihood}
        return {g: self.idata[g] for g in self.idata.groups()}

    @cached_property
    def idata(self):
        """ArviZ InferenceData: ``posterior`` (``d`` over treatment, ``tau``; the sampler's other variables under MCMC),
        ``log_likelihood`` (``y`` over study: each study's pointwise log-likelihood), MCMC ``sample_stats``."""
        import arviz as az

        idata = self.posterior.idata if self.posterior.idata is not None else az.InferenceData(**self._groups_of_engine)
        if "log_likelihood" in idata.groups():
            del idata["log_likelihood"]
        idata.add_groups(log_likelihood=self._log_likelihood)
        return idata

    def _known(self, treatment: str, argument: str) -> None:
        if treatment not in self.treatments:
            from nma.core.tables import closest
            from nma.errors import NetworkDataError

            raise NetworkDataError(f"{argument}={treatment!r} is not a treatment of this network; "
                                   f"{closest(str(treatment), self.treatments)}. Treatments: {', '.join(map(str, self.treatments))}")

    def __repr__(self) -> str:
        return (f"Fit({self.family.name}, {self.spec.effects} effects, {self.measure.code}, engine={self.engine}, "
                f"{len(self.network.studies)} studies, {len(self.treatments)} treatments)")


def draws_array(fit: Fit) -> np.ndarray:
    """(n, treatment) draws with the reference's zero first: for deliverables that work on draws."""
    return fit.posterior.all_treatment_draws()


def _save(self, path, options=None, provenance=None, timings=None):
    """Write every file `nma run` writes (tables, posterior.nc, figures, report, run.json) into `path`, atomically.

    Returns the folder. `options` (ReportOptions) and `provenance` (Provenance) default to the fit's own arguments."""
    from nma.analysis.save import save_fit

    return save_fit(self, path, options, provenance, timings)


Fit.save = _save
