"""The validation stage of `nma run`: the config checked against the assembled network, before any fitting.

`load_config` checks what a config says on its own (keys, types, ranges); this stage checks what it says about
*this* network: every key that names a treatment, the minimal important difference against the measure and the
direction of benefit, and the options that only some measures allow. Whatever fails here fails in a second,
with the TOML key in the message, instead of after every model and model check has been fitted.

Rules:

* ``[model] reference``, ``league_order``, ``forest_comparators`` name treatments of the network (its ids, after
  any ``[data.nodes]`` pooling). ``league_order`` lists every treatment exactly once (the league table is square,
  so a subset would drop rows; multinma's ``trt_ref``/order arguments likewise refuse names not in the network).
  ``forest_comparators`` names each comparator once.
* ``[model] mid``, the minimal important difference, is on the shown scale of the measure:
  for a ratio measure (HR, OR, RR) it is a ratio, never 0 or negative; below 1 when lower is better (e.g. HR 0.8),
  above 1 when higher is better (e.g. OR 1.25); 1 is "no difference" and is refused.
  For a difference measure (MD, SMD, RD) a MID would be a difference, nonzero with the sign of benefit (negative
  when lower is better); `mid.csv` is computed on the ratio scale only (``log(mid)``), so a MID on a difference
  measure is refused until it is computed on the difference scale.
* ``[model] reference_median_months`` (implied medians, median_ref / HR) needs hazard ratios.
"""

from __future__ import annotations

import math

from nma.app.extensions import resolve_extensions
from nma.app.config import AnalysisConfig
from nma.core.tables import closest
from nma.errors import ConfigError
from nma.models.families import family_of
from nma.models.spec import ModelSpec


def validate_config(cfg: AnalysisConfig, network) -> None:
    """Raise ConfigError, naming the config file and TOML key, for anything the config says that this network
    (a Network or an ArmNetwork) cannot honour. Called after the network is assembled and before any fit."""
    treatments = tuple(map(str, network.treatments))
    _check_reference(cfg, treatments)
    _check_league_order(cfg, treatments)
    _check_forest_comparators(cfg, treatments)
    lower_is_better = ModelSpec.from_config(cfg.model, warn=False, measure=network.measure.code,
                                            lower_is_better_default=family_of(network).lower_is_better_default).lower_is_better
    _check_mid(cfg, network.measure, lower_is_better)
    _check_reference_median(cfg, network.measure)
    _check_decision(cfg, network.measure, treatments)
    resolve_extensions(cfg, network)   # [model.regression] / [model.classes]: covariate values, classes (app/extensions.py)


def _error(cfg: AnalysisConfig, key: str, value, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{cfg.path}: [model] {key} = {_toml(value)}: {problem}. Fix: {fix}")


def _toml(value) -> str:
    """A value as it is written in the TOML file."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value!r}" if isinstance(value, float) else str(value)


def _unknown(name, treatments: tuple[str, ...]) -> str:
    """'treatment "9" is not in the network (A, B, C); valid values are ...' with the closest id suggested."""
    hint = closest(str(name), treatments)
    listed = f"the network's treatments are {', '.join(treatments)}"
    return f"treatment {_toml(name)} is not in the network; {hint}" + ("" if hint.startswith("valid") else f" ({listed})")


def _check_names(cfg: AnalysisConfig, key: str, names, treatments: tuple[str, ...]) -> None:
    for name in names:
        if not isinstance(name, str):
            raise _error(cfg, key, list(names), f"{_toml(name)} is not a treatment id",
                         f'write each treatment id in double quotes, e.g. ["{treatments[0]}"]')
        if name not in treatments:
            raise _error(cfg, key, list(names), _unknown(name, treatments),
                         f"use the treatment ids of the network: {', '.join(treatments)}")
    seen = set()
    for name in names:
        if name in seen:
            raise _error(cfg, key, list(names), f'"{name}" is listed twice', "list each treatment once")
        seen.add(name)


def _check_reference(cfg: AnalysisConfig, treatments: tuple[str, ...]) -> None:
    """Assembly already refuses a reference not in the data; this catches one lost after assembly (it must be the
    network's first treatment)."""
    if cfg.reference is not None and cfg.reference != treatments[0]:
        raise _error(cfg, "reference", cfg.reference, _unknown(cfg.reference, treatments),
                     f"set reference to one of: {', '.join(treatments)}")


def _check_league_order(cfg: AnalysisConfig, treatments: tuple[str, ...]) -> None:
    if cfg.league_order is None:
        return
    names = cfg.league_order
    _check_names(cfg, "league_order", names, treatments)
    missing = [t for t in treatments if t not in names]
    if missing:
        raise _error(cfg, "league_order", list(names),
                     f"the league table has every treatment of the network, but {', '.join(missing)} "
                     f"{'is' if len(missing) == 1 else 'are'} not listed",
                     f"list all {len(treatments)} treatments in the order wanted, e.g. {_toml(list(treatments))}, "
                     "or remove league_order to order them by SUCRA")


def _check_forest_comparators(cfg: AnalysisConfig, treatments: tuple[str, ...]) -> None:
    _check_names(cfg, "forest_comparators", cfg.forest_comparators, treatments)


def _check_decision(cfg: AnalysisConfig, measure, treatments: tuple[str, ...]) -> None:
    """[decision] comparator must be a treatment; ratio thresholds must be positive."""
    comparator = cfg.decision_comparator
    if comparator is not None and comparator not in treatments:
        raise ConfigError(f"{cfg.path}: [decision] comparator = {_toml(comparator)}: {_unknown(comparator, treatments)}. "
                          f"Fix: use one of the network's treatment ids: {', '.join(treatments)}")
    bad = [t for t in cfg.decision_thresholds or () if measure.is_ratio and not t > 0]
    if bad:
        raise ConfigError(f"{cfg.path}: [decision] thresholds = {_toml(list(cfg.decision_thresholds))}: {_toml(bad[0])} is "
                          f"not a {measure.name} ({measure.code}), which is positive. Fix: give ratios such as 0.8, 1.0, "
                          "1.25")


def _check_mid(cfg: AnalysisConfig, measure, lower_is_better: bool) -> None:
    mid = cfg.mid
    if mid is None:
        return
    direction = "lower_is_better = true" if lower_is_better else "lower_is_better = false (higher is better)"
    if not math.isfinite(mid):
        raise _error(cfg, "mid", mid, "the minimal important difference must be a finite number",
                     "type the ratio that is just worth having, e.g. 0.8" if lower_is_better else
                     "type the ratio that is just worth having, e.g. 1.25")
    if not measure.is_ratio:
        raise _error(cfg, "mid", mid,
                     f"the measure is {_a(measure.name)} ({measure.code}), and a MID on a difference scale (nonzero, "
                     f"{'negative' if lower_is_better else 'positive'} with {direction}) is not computed yet: mid.csv "
                     "compares effects on the ratio scale only", "remove mid")
    if mid <= 0:
        raise _error(cfg, "mid", mid, f"the minimal important difference of {_a(measure.name)} ({measure.code}) is a "
                     "ratio, and a ratio is greater than 0",
                     "type the ratio that is just worth having, e.g. 0.8" if lower_is_better else
                     "type the ratio that is just worth having, e.g. 1.25")
    if lower_is_better and not mid < 1:
        raise _error(cfg, "mid", mid, f"with {direction} {_a(measure.name)} ({measure.code}) below 1 is a "
                     f"benefit, so the MID must lie between 0 and 1{' (1 is no difference)' if mid == 1 else ''}",
                     f"{_reciprocal(mid)}set lower_is_better = false if higher {measure.code}s are better")
    if not lower_is_better and not mid > 1:
        raise _error(cfg, "mid", mid, f"with {direction} {_a(measure.name)} ({measure.code}) above 1 is a "
                     f"benefit, so the MID must be greater than 1{' (1 is no difference)' if mid == 1 else ''}",
                     f"{_reciprocal(mid)}set lower_is_better = true if lower {measure.code}s are better")


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _reciprocal(mid: float) -> str:
    return "type the ratio that is just worth having, or " if mid == 1 else f"use the reciprocal, mid = {1 / mid:.3g}, or "


def _check_reference_median(cfg: AnalysisConfig, measure) -> None:
    months = cfg.reference_median_months
    if months is None or measure.code == "HR":
        return
    raise _error(cfg, "reference_median_months", months,
                 f"implied medians (median_ref / HR) need hazard ratios, and this network's measure is "
                 f"{_a(measure.name)} ({measure.code})", "remove reference_median_months")


def check_engine(cfg: AnalysisConfig, engine: str, network) -> None:
    """What the network's family cannot do on the chosen engine (which may come from --engine), refused before any
    fit: the exact engine, and the exact-engine direct estimates of league_upper = "direct", need a closed form."""
    family = family_of(network)
    if family.has_exact:
        if cfg.cross_check and engine == "mcmc":
            raise ConfigError(f"{cfg.path}: [model] cross_check = true compares the exact engine with MCMC, and this "
                              "run uses engine = \"mcmc\". Fix: use engine = \"auto\" (the default) or \"exact\", "
                              "or remove cross_check.")
        return
    if cfg.cross_check:
        raise ConfigError(f"{cfg.path}: [model] cross_check = true compares the exact engine with MCMC, and binomial "
                          "(arm-level) data have no exact engine. Fix: remove cross_check.")
    if engine == "exact":
        raise ConfigError(f"{cfg.path}: engine = \"exact\" does not apply to binomial (arm-level) data: its closed form "
                          "needs normal likelihoods. Fix: use engine = \"auto\" (the default) or \"mcmc\", or drop --engine exact.")
    if cfg.league_upper == "direct":
        raise ConfigError(f"{cfg.path}: [model] league_upper = \"direct\" uses the exact engine, which does not apply to "
                          "binomial data. Fix: remove league_upper.")
