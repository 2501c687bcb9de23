"""The model-family seam: what a likelihood must provide so that fitting, model fit and every check work for it.

A family knows its network kind and measure, whether it has an exact engine, how to fit the network (or a
node-split / UME design of its structure) on a given engine, and its per-study log-likelihood and TSD2 model fit
from a Posterior. Everything above this module (checks, the fitted-model API, reporting, the CLI) asks the family
and never branches on the data kind. Two families today: normal contrasts (TSD2 Program 7, exact or MCMC) and
binomial arms (TSD2 Programs 1 and 8, MCMC). A Poisson or multinomial family is one more class.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd

from nma.core.arms import ArmNetwork
from nma.core.network import Network
from nma.models.exact import fit_exact
from nma.models.posterior import EXACT, MCMC, Posterior
from nma.models.sampler import SamplerConfig, diagnostics, gate, sample
from nma.models.spec import ModelSpec

ENGINES = (EXACT, MCMC)
#: A check refit that fails the gate is tried once more with smaller steps and twice the tuning and draws (what a user
#: would do by hand: large studies make the binomial model's non-centred random effects hard for NUTS).
RETRY_TARGET_ACCEPT = 0.995


@dataclass(frozen=True)
class FitSettings:
    """How to fit: the engine, the sampler (MCMC) or the number of exact draws (chains x draws), and the seed."""

    engine: str = EXACT
    sampler: SamplerConfig = SamplerConfig()
    retry: bool = False        # refit once with smaller steps and more draws when the gate fails (model checks)

    @property
    def seed(self) -> int:
        return self.sampler.seed


class Family(Protocol):
    """What every likelihood provides. `design` (contrasts x parameters, over the network's `structure.contrasts`)
    replaces the consistency design; `parameters` names its columns."""

    name: str
    has_exact: bool
    lower_is_better_default: bool
    checks_text: str          # how the model checks refit, in the report
    evidence_text: str        # how the evidence entered the likelihood, in the report ("" for the default sentence)

    def fit(self, network, spec: ModelSpec, settings: FitSettings, design: np.ndarray | None = None,
            parameters: tuple[str, ...] | None = None) -> Posterior: ...

    def supports_designs(self, network) -> bool: ...

    def log_likelihood(self, network, posterior: Posterior) -> np.ndarray: ...

    def model_fit(self, network, posterior: Posterior, design: np.ndarray | None = None) -> tuple[pd.DataFrame, dict]: ...

    def describe(self) -> str: ...


def _mcmc(model, names: list[str], settings: FitSettings):
    """Sample, and apply the convergence gate; with `settings.retry`, once more with smaller steps and more draws."""
    configs = [settings.sampler]
    if settings.retry:
        s = settings.sampler
        configs.append(replace(s, target_accept=max(s.target_accept, RETRY_TARGET_ACCEPT), tune=2 * s.tune, draws=2 * s.draws))
    for config in configs:
        idata = sample(model, config)
        table, divergences = diagnostics(idata, names)
        problems = gate(table, divergences)
        if not problems:
            break
    return idata, table, divergences, problems


def _names(design, spec: ModelSpec) -> tuple[str, str]:
    return ("beta" if design is not None else "d"), ("tau" if spec.effects == "random" else "")


class NormalContrast:
    """Contrast-level evidence with normal likelihoods (log-ratios or differences with SEs, multi-arm covariance):
    y_s ~ MVN(X_s d, V_s + tau^2 C_s). Exact posterior by quadrature over tau; MCMC by PyMC NUTS."""

    name = "normal contrast"
    has_exact = True
    lower_is_better_default = True      # time-to-event HRs: fewer events is better
    checks_text = "with the exact engine"
    evidence_text = ""

    def fit(self, network: Network, spec: ModelSpec, settings: FitSettings, design=None, parameters=None) -> Posterior:
        params = tuple(parameters) if parameters is not None else tuple(network.treatments[1:])
        random = spec.effects == "random"
        if settings.engine == EXACT:
            return Posterior.from_exact(fit_exact(network, spec, design), parameters=params, random=random,
                                        seed=settings.seed, chains=settings.sampler.chains, draws=settings.sampler.draws)
        if design is not None:
            raise NotImplementedError("MCMC fits of a node-split or UME design: the normal family uses its exact engine")
        from nma.models.normal_pymc import build_model

        d, tau = _names(design, spec)
        idata, table, div, problems = _mcmc(build_model(network, spec), [d] + ([tau] if tau else []), settings)
        return Posterior.from_idata(idata, treatments=network.treatments, parameters=params, name=d, random=random,
                                    diagnostics=table, divergences=div, problems=problems)

    def supports_designs(self, network: Network) -> bool:
        return True

    def log_likelihood(self, network: Network, posterior: Posterior) -> np.ndarray:
        from nma.models.normal import study_log_likelihood

        return study_log_likelihood(network, posterior.flat(), posterior.flat_tau())

    def model_fit(self, network: Network, posterior: Posterior, design=None) -> tuple[pd.DataFrame, dict]:
        from nma.models.normal import model_fit

        return model_fit(network, posterior.flat(), posterior.flat_tau(), design)

    def describe(self) -> str:
        return ""


class BinomialArm:
    """Arm-level counts r of n (binomial, logit link, TSD2 Program 1), optionally with contrast-level log-ORs beside
    them (Program 8). No closed form: MCMC only."""

    name = "binomial arm"
    has_exact = False
    lower_is_better_default = False     # response outcomes: more responders is better
    checks_text = ("by MCMC (NUTS, the analysis's sampler settings and seed; the exact engine does not apply to binomial "
                   "data), each refit passing the same convergence gate")
    evidence_text = ("Arm-level studies enter as responders r out of n (binomial likelihood, no continuity correction); "
                     "contrast-level studies as log-ORs with SEs.")

    def fit(self, network: ArmNetwork, spec: ModelSpec, settings: FitSettings, design=None, parameters=None) -> Posterior:
        from nma.models.binomial_pymc import build_binomial_model

        params = tuple(parameters) if parameters is not None else tuple(network.treatments[1:])
        d, tau = _names(design, spec)
        model = build_binomial_model(network, spec, design, list(params) if design is not None else None)
        idata, table, div, problems = _mcmc(model, [d] + ([tau] if tau else []), settings)
        return Posterior.from_idata(idata, treatments=network.treatments, parameters=params, name=d,
                                    random=spec.effects == "random", diagnostics=table, divergences=div,
                                    problems=problems)

    def supports_designs(self, network: ArmNetwork) -> bool:
        """Designs address the arm-level model's delta rows; a mixed network's contrast studies are outside them."""
        return network.contrast is None

    def log_likelihood(self, network: ArmNetwork, posterior: Posterior) -> np.ndarray:
        from nma.models.binomial import arm_draws, study_log_likelihood

        mu, delta = arm_draws(posterior.idata)
        return study_log_likelihood(network, mu, delta, _all_or_none(posterior), posterior.flat_tau())

    def model_fit(self, network: ArmNetwork, posterior: Posterior, design=None) -> tuple[pd.DataFrame, dict]:
        from nma.models.binomial import arm_draws, model_fit

        mu, delta = arm_draws(posterior.idata)
        return model_fit(network, mu, delta, _all_or_none(posterior), posterior.flat_tau())

    def describe(self) -> str:
        return ("Arm-level studies: binomial likelihood with a logit link (no continuity correction); each study's "
                "baseline log-odds ~ normal with mean 0 and SD 100 (TSD2).")


def _all_or_none(posterior: Posterior) -> np.ndarray | None:
    basic = posterior.parameters == tuple(posterior.treatments[1:])
    return posterior.all_treatment_draws() if basic else None


NORMAL, BINOMIAL = NormalContrast(), BinomialArm()


def family_of(network) -> Family:
    """The family a network's data imply: arm counts are binomial, contrasts normal."""
    return BINOMIAL if isinstance(network, ArmNetwork) else NORMAL


def check_settings(family: Family, settings: FitSettings) -> FitSettings:
    """Model checks run on the exact engine where the family has one (milliseconds each), else by MCMC with retry."""
    return replace(settings, engine=EXACT) if family.has_exact else replace(settings, engine=MCMC, retry=True)

