"""Priors written as text in configs, parsed into small frozen objects.

Pure SciPy: the exact engine integrates over these densities and the PyMC model builds from them,
so both engines share one definition of each prior.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy import stats

from nma.errors import ModelSpecError

_T2015 = ("Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT. Stat Med 2015;34(6):984-998, doi:10.1002/sim.6381, "
          "Table IV (values as transcribed identically by the R packages bayesmeta and rnmamod)")
_T2012 = ("Turner RM, Davey J, Clarke MJ, Thompson SG, Higgins JPT. Int J Epidemiol 2012;41(3):818-827, "
          "doi:10.1093/ije/dys041 (values as transcribed by the R package gemtc and its unit test)")

#: Named informative priors: log(tau^2) ~ Normal(mu, sigma), sigma an SD. Derived for log odds ratios;
#: using them for log-HRs assumes heterogeneity is similar on both scales (as HTA practice commonly does).
PRESETS: dict[str, tuple[float, float]] = {
    "turner2015_general": (-2.56, 1.74),
    "turner2015_mortality_pharm_vs_placebo": (-3.95, 1.34),
    "turner2015_mortality_pharm_vs_pharm": (-4.18, 1.41),
    "turner2012_mortality_pharm_vs_control": (-4.06, 1.45),
    "turner2012_semiobjective_pharm_vs_control": (-3.02, 1.85),
    "turner2012_semiobjective_pharm_vs_pharm": (-3.23, 1.88),
}
PRESET_SOURCES: dict[str, str] = {name: (_T2015 if name.startswith("turner2015") else _T2012) for name in PRESETS}


@dataclass(frozen=True)
class TauPrior:
    """Prior on the between-study SD tau (log-HR scale).

    kind: 'half-normal' (scale), 'half-cauchy' (scale), 'uniform' (lower=0, upper),
    or 'log-normal' (mu, sigma) placed on tau^2, as Turner et al. give them.
    """

    kind: str
    a: float
    b: float = math.nan
    text: str = ""

    # ---- density of tau, for quadrature ------------------------------------------------------
    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        tau = np.asarray(tau, float)
        with np.errstate(divide="ignore"):
            if self.kind == "half-normal":
                return stats.halfnorm.logpdf(tau, scale=self.a)
            if self.kind == "half-cauchy":
                return stats.halfcauchy.logpdf(tau, scale=self.a)
            if self.kind == "uniform":
                return stats.uniform.logpdf(tau, loc=self.a, scale=self.b - self.a)
            # tau^2 ~ LogNormal(mu, sigma): p(tau) = p_LN(tau^2) * 2 tau
            return stats.lognorm.logpdf(tau**2, s=self.b, scale=math.exp(self.a)) + np.log(2 * tau)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, float)
        if self.kind == "half-normal":
            return stats.halfnorm.ppf(q, scale=self.a)
        if self.kind == "half-cauchy":
            return stats.halfcauchy.ppf(q, scale=self.a)
        if self.kind == "uniform":
            return self.a + q * (self.b - self.a)
        return np.sqrt(stats.lognorm.ppf(q, s=self.b, scale=math.exp(self.a)))

    @property
    def sd(self) -> float:
        """Prior SD of tau (infinite for the half-Cauchy), for the prior-to-posterior comparison."""
        if self.kind == "half-normal":
            return float(stats.halfnorm.std(scale=self.a))
        if self.kind == "half-cauchy":
            return math.inf
        if self.kind == "uniform":
            return (self.b - self.a) / math.sqrt(12.0)
        # tau = exp(X / 2), X ~ N(mu, sigma^2): log-normal with log-scale mean mu/2 and SD sigma/2
        s = self.b / 2
        return math.exp(self.a / 2 + s**2 / 2) * math.sqrt(math.expm1(s**2))

    @property
    def upper(self) -> float:
        return self.b if self.kind == "uniform" else math.inf

    def describe(self, scale: str = "log scale") -> str:
        """The prior in words; `scale` is what tau is the SD of ("log scale" for ratio measures, e.g. "MD scale")."""
        what = f"tau (between-study SD, {scale})"
        if self.kind == "half-normal":
            return f"{what} ~ half-normal with scale {self.a:g}"
        if self.kind == "half-cauchy":
            return f"{what} ~ half-Cauchy with scale {self.a:g}"
        if self.kind == "uniform":
            return f"{what} ~ uniform between {self.a:g} and {self.b:g}"
        src = f" [{PRESET_SOURCES[self.text]}]" if self.text in PRESET_SOURCES else ""
        return f"tau^2 (between-study variance, {scale}) ~ log-normal with mean {self.a:g} and SD {self.b:g} on the log scale{src}"


_NUM = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_PATTERN = re.compile(rf"^\s*([a-z-]+)\s*\({_NUM}(?:,{_NUM})?\)\s*$")
_ALIASES = {"halfnormal": "half-normal", "half_normal": "half-normal", "halfcauchy": "half-cauchy",
            "half_cauchy": "half-cauchy", "lognormal": "log-normal", "log_normal": "log-normal"}
PRIOR_FORMS = ("half-normal(s)", "half-cauchy(s)", "uniform(0, u)", "log-normal(mu, sigma) on tau^2")


def parse_tau_prior(text: str, key: str = "[model] tau_prior") -> TauPrior:
    """Parse 'half-normal(0.5)', 'uniform(0, 5)', 'half-cauchy(0.5)', 'log-normal(-3.9, 1.5)' or a preset name.

    `key` names the setting in messages: a config key ('[model] tau_prior') or a Python argument ('tau_prior')."""
    said = f"{key} = {text!r}" if key.startswith("[") else f"{key}={text!r}"
    if not isinstance(text, str):
        raise ModelSpecError(f"{key} must be a string, got {text!r}. Fix: write it in quotes, e.g. \"half-normal(0.5)\"")
    if text.strip() in PRESETS:
        mu, sigma = PRESETS[text.strip()]
        return TauPrior("log-normal", mu, sigma, text.strip())
    m = _PATTERN.match(text.lower())
    if not m:
        hint = f"; presets: {', '.join(sorted(PRESETS))}" if PRESETS else ""
        raise ModelSpecError(f"{said} cannot be parsed. Write one of: {', '.join(PRIOR_FORMS)}{hint}. "
                             "Fix: write the distribution with its parameters in brackets, e.g. \"half-normal(0.5)\"")
    kind = _ALIASES.get(m.group(1), m.group(1))
    a = float(m.group(2))
    b = float(m.group(3)) if m.group(3) is not None else math.nan
    nargs = 1 if math.isnan(b) else 2
    need = {"half-normal": 1, "half-cauchy": 1, "uniform": 2, "log-normal": 2}
    if kind not in need:
        raise ModelSpecError(f"{said}: unknown distribution '{m.group(1)}'. Fix: write one of: "
                             f"{', '.join(PRIOR_FORMS)}")
    if nargs != need[kind]:
        raise ModelSpecError(f"{said}: {kind} takes {need[kind]} parameter(s), got {nargs}. Fix: write "
                             f"it as {next(f for f in PRIOR_FORMS if f.startswith(kind))}")
    if kind in ("half-normal", "half-cauchy") and not a > 0:
        raise ModelSpecError(f"{said}: the scale must be positive. Fix: use a positive scale, e.g. "
                             f"{kind}(0.5)")
    if kind == "uniform" and (a != 0 or not b > 0):
        raise ModelSpecError(f"{said}: use uniform(0, u) with u > 0 (tau is a standard deviation). "
                             "Fix: e.g. uniform(0, 5)")
    if kind == "log-normal" and not b > 0:
        raise ModelSpecError(f"{said}: sigma must be positive. Fix: give the SD of log(tau^2), e.g. "
                             "log-normal(-2.56, 1.74), or a preset such as turner2015_general")
    return TauPrior(kind, a, b, text.strip())
