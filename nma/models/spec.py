"""The model specification: effects, priors and direction, separate from data and from fitting."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from nma.core.measures import measure_of
from nma.errors import ModelSpecError, ModelWarning
from nma.models.priors import TauPrior, parse_tau_prior

#: Normal(0, 10^2) on each log-HR: flat over every plausible HR (e^±20), as multinma's default.
DEFAULT_D_PRIOR_SD = 10.0
#: Half-normal(0.5) on tau: 95% of its mass below 0.98, i.e. trial HRs rarely differing more than e^2-fold
#: from the pooled one. Vaguer priors (half-normal(5)) let a sparse oncology network put absurd mass on tau.
DEFAULT_TAU_PRIOR = "half-normal(0.5)"
EFFECTS = ("fixed", "random")
ENGINES = ("auto", "exact", "mcmc")   # auto: the exact engine where the family has one, else MCMC


@dataclass(frozen=True)
class ModelSpec:
    """What is assumed: fixed or random effects, the priors, and which direction is better.

    `d` are log hazard ratios (measure "HR": negative means fewer events) or log odds ratios (measure "OR",
    arm-level binary data: positive means more responders) of each treatment versus the network reference.
    """

    effects: str = "random"
    d_prior_sd: float = DEFAULT_D_PRIOR_SD
    tau_prior: TauPrior = field(default_factory=lambda: parse_tau_prior(DEFAULT_TAU_PRIOR))
    lower_is_better: bool = True
    defaults_used: tuple[str, ...] = ()
    measure: str = "HR"
    likelihood: str = ""      # the family's sentence in describe(); set by nma.fit from the network's family

    def __post_init__(self):
        if self.effects not in EFFECTS:
            raise ModelSpecError(f"[model] effects = {self.effects!r}; use one of: {', '.join(EFFECTS)}. Fix: write "
                                 "effects = \"random\" or effects = \"fixed\"")
        object.__setattr__(self, "measure", measure_of(self.measure).code)
        if isinstance(self.d_prior_sd, bool) or not (isinstance(self.d_prior_sd, (int, float)) and 0 < self.d_prior_sd < float("inf")):
            raise ModelSpecError(f"[model] d_prior_sd = {self.d_prior_sd!r} must be a positive number. Fix: e.g. "
                                 "d_prior_sd = 10 (the default, vague on the log-HR scale)")

    @classmethod
    def from_config(cls, model: dict, *, warn: bool = True, measure: str = "HR",
                    lower_is_better_default: bool = True) -> ModelSpec:
        """Build from a config's [model] table, warning about (and recording) every default used.

        `measure` and `lower_is_better_default` come from the network and its family (more responders is better for
        a binomial response outcome: a config saying otherwise earns a warning)."""
        defaults = []
        if "effects" not in model:
            defaults.append("effects = \"random\"")
        if "d_prior_sd" not in model:
            defaults.append(f"d_prior_sd = {DEFAULT_D_PRIOR_SD:g} (normal prior on each log-{measure})")
        if not lower_is_better_default and model.get("lower_is_better") is True:
            warnings.warn("[model] lower_is_better = true for a binary (response) outcome: treatments with FEWER "
                          "responders rank best. Remove the key (default false) unless the outcome is an adverse event.",
                          ModelWarning, stacklevel=2)
        effects = model.get("effects", "random")
        if effects == "random" and "tau_prior" not in model:
            defaults.append(f"tau_prior = \"{DEFAULT_TAU_PRIOR}\"")
        spec = cls(effects=effects,
                   d_prior_sd=model.get("d_prior_sd", DEFAULT_D_PRIOR_SD),
                   tau_prior=parse_tau_prior(model.get("tau_prior", DEFAULT_TAU_PRIOR)),
                   lower_is_better=model.get("lower_is_better", lower_is_better_default),
                   defaults_used=tuple(defaults), measure=measure)
        if defaults and warn:
            warnings.warn("Prior distributions were left at default values: " + "; ".join(defaults), ModelWarning, stacklevel=2)
        return spec

    def describe(self) -> str:
        """The model in words, with the family's own sentence (`likelihood`: the binomial family's baseline prior)."""
        m = measure_of(self.measure)
        lines = [f"{'Random' if self.effects == 'random' else 'Fixed'}-effect network meta-analysis on the {m.model_scale} scale.",
                 f"Each basic parameter d ({m.model_label} versus the reference) ~ normal with mean 0 and SD {self.d_prior_sd:g}."]
        if self.likelihood:
            lines.append(self.likelihood)
        if self.effects == "random":
            lines.append(self.tau_prior.describe("log scale" if m.is_ratio else f"{m.code} scale")
                         + f"; the trial-specific {m.model_label}s of a multi-arm trial are correlated 0.5.")
        lines.append(f"{'Lower' if self.lower_is_better else 'Higher'} values are better when ranking.")
        if self.defaults_used:
            lines.append("Defaults used: " + "; ".join(self.defaults_used) + ".")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"effects": self.effects, "d_prior_sd": self.d_prior_sd,
                "tau_prior": self.tau_prior.text if self.effects == "random" else None,
                "lower_is_better": self.lower_is_better, "defaults_used": list(self.defaults_used), "measure": self.measure}
