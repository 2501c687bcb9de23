"""[model.regression] and [model.classes]: network meta-regression and class effects asked for by a config.

Parsed with the rest of the config (`parse_extensions`, types and vocabularies), resolved against the assembled
network before any fitting (`resolve_extensions`: the covariate's value for every trial, a class for every
treatment; a ConfigError names the trials or treatments without one), and fitted beside the main analysis
(`fit_extensions`, exact engine): the main analysis's league table stays the unadjusted one, and the report's
meta-regression or class-effects section says which model produced its tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nma.core.tables import closest
from nma.errors import ConfigError, ModelSpecError, NMAError
from nma.models.regression import (
    CLASS_EFFECTS,
    COEFFICIENTS,
    DEFAULT_SD_PRIOR,
    Classes,
    Regression,
    RegressionPosterior,
    fit_regression,
)

#: Keys of the two tables and their types (checked by config._check_table with the rest of the config).
REGRESSION_KEYS = {"covariate": str, "centre": (int, float), "coefficients": str, "at": list, "sd_prior": str,
                   "reference_level": str, "by_class": bool}
CLASSES_KEYS = {"column": str, "mapping": dict, "model": str, "sd_prior": str}


@dataclass(frozen=True)
class RegressionRequest:
    """[model.regression] as written: the Regression spec and the covariate values to report effects at."""

    regression: Regression
    at: tuple = ()


@dataclass(frozen=True)
class ClassesRequest:
    """[model.classes] as written: classes from a column of the treatments table, or a mapping, and the model."""

    column: str | None
    mapping: dict = field(default_factory=dict)
    effects: str = "exchangeable"
    sd_prior: str = DEFAULT_SD_PRIOR


@dataclass(frozen=True)
class Extensions:
    regression: RegressionRequest | None = None
    classes: ClassesRequest | None = None

    def __bool__(self) -> bool:
        return self.regression is not None or self.classes is not None


@dataclass(frozen=True, eq=False)
class ExtensionFit:
    """A fitted extension: what the report section shows. `kind` is "regression" or "classes"; `values` the covariate
    per trial (regression) and `source` how they were obtained."""

    kind: str
    posterior: RegressionPosterior
    regression: Regression | None = None
    classes: Classes | None = None
    at: tuple = ()
    values: dict = field(default_factory=dict)
    source: str = ""


def _key_error(path: Path, table: str, key: str, value, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: [model.{table}] {key} = {value!r}: {problem}. Fix: {fix}")


def parse_extensions(model: dict, path: Path) -> Extensions:
    """The [model.regression] and [model.classes] tables, their values checked (types are checked by the caller)."""
    reg, cls = model.get("regression"), model.get("classes")
    request = None
    if reg is not None:
        if "covariate" not in reg:
            raise ConfigError(f"{path}: [model.regression] needs 'covariate'. Fix: add covariate = \"...\", a column of "
                              "data/characteristics.csv, e.g. covariate = \"prior_trastuzumab_percent\"")
        coefficients = reg.get("coefficients", "shared")
        if coefficients not in COEFFICIENTS:
            raise _key_error(path, "regression", "coefficients", coefficients, closest(str(coefficients), COEFFICIENTS),
                             f"use one of {', '.join(COEFFICIENTS)}")
        centre = reg.get("centre")
        if centre is not None and not math.isfinite(centre):
            raise _key_error(path, "regression", "centre", centre, "the centre must be a finite number",
                             "type the covariate value at which d is reported, e.g. centre = 50, or remove the key "
                             "(the trials' mean)")
        at = reg.get("at", [])
        if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in at):
            raise _key_error(path, "regression", "at", at, "each value must be a number (or a level of a categorical "
                             "covariate)", "write e.g. at = [0, 50, 100]")
        try:
            regression = Regression(covariate=reg["covariate"], centre=centre, coefficients=coefficients,
                                    by_class=reg.get("by_class", False), sd_prior=reg.get("sd_prior", DEFAULT_SD_PRIOR),
                                    reference_level=reg.get("reference_level"))
        except ModelSpecError as err:
            raise ConfigError(f"{path}: [model.regression] {err}") from None
        if regression.by_class and cls is None:
            raise _key_error(path, "regression", "by_class", True, "coefficients by class need classes",
                             "add a [model.classes] table, or remove by_class")
        request = RegressionRequest(regression, tuple(at))
    classes = None
    if cls is not None:
        if ("column" in cls) == ("mapping" in cls):
            raise ConfigError(f"{path}: [model.classes] needs exactly one of 'column' (a column of data/treatments.csv, "
                              "e.g. column = \"mechanism\") and 'mapping' (a [model.classes.mapping] table of treatment "
                              "id = \"class\"). Fix: keep one of them")
        effects = cls.get("model", "exchangeable")
        if effects not in CLASS_EFFECTS:
            raise _key_error(path, "classes", "model", effects, closest(str(effects), CLASS_EFFECTS),
                             f"use one of {', '.join(CLASS_EFFECTS)}")
        mapping = cls.get("mapping", {})
        bad = [k for k, v in mapping.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ConfigError(f"{path}: [model.classes.mapping] {bad[0]} must be a class name in double quotes. Fix: "
                              f"write {bad[0]} = \"antibody\" (say)")
        try:
            Classes(dict(mapping), effects=effects, sd_prior=cls.get("sd_prior", DEFAULT_SD_PRIOR))
        except ModelSpecError as err:
            raise ConfigError(f"{path}: [model.classes] {err}") from None
        classes = ClassesRequest(cls.get("column"), dict(mapping), effects, cls.get("sd_prior", DEFAULT_SD_PRIOR))
    return Extensions(request, classes)


def _covariate(cfg, network, req: RegressionRequest) -> tuple[dict, str]:
    """trial -> covariate value for every trial of the network, or a ConfigError naming the trials without one."""
    name = req.regression.covariate
    key = f"{cfg.path}: [model.regression] covariate = \"{name}\""
    if cfg.evidence_dir is None:
        values, source = _file_covariate(cfg, network, name, key)
    else:
        from nma.evidence.characteristics import covariate_values

        try:
            values, source = covariate_values(cfg.evidence_dir, network.studies, name)
        except NMAError as err:
            raise ConfigError(f"{key}: {err}") from None
    missing = [s for s in network.studies if s not in values]
    if missing:
        fix = ("add a sourced row for each to data/characteristics.csv, or remove them with [data] exclude_trials "
               "(and say why in the description)") if cfg.evidence_dir is not None else (
               f"fill in the column {name} for each of them in the network file, or remove their rows")
        raise ConfigError(f"{key}: no value for {len(missing)} trial(s) of the network: {', '.join(missing)}. Trials are "
                          f"never dropped silently. Fix: {fix}")
    numeric = all(isinstance(v, float) for v in values.values())
    for v in req.at:
        if numeric and isinstance(v, str):
            raise ConfigError(f"{key}: at = {list(req.at)!r} holds the text {v!r}, and {name} is numeric. Fix: write "
                              "numbers, e.g. at = [0, 50, 100]")
        if not numeric and str(v) not in {str(x) for x in values.values()}:
            levels = sorted({str(x) for x in values.values()})
            raise ConfigError(f"{key}: at = {list(req.at)!r}: {v!r} is not a level of {name} ({', '.join(levels)}). "
                              "Fix: list levels the trials have")
    if numeric and len(set(values.values())) < 2:
        raise ConfigError(f"{key}: every trial has the value {next(iter(values.values())):g}, so it cannot explain "
                          "anything. Fix: choose a covariate that varies between the network's trials")
    return values, source


def _file_covariate(cfg, network, name: str, key: str) -> tuple[dict, str]:
    """The covariate from a column of the user's own CSV: one value per study (on any of its rows; the others empty
    or equal), numbers if every value is a number, else categories."""
    file = cfg.contrasts_path or cfg.ratios_path or cfg.arms_path
    c = network.contrasts
    if name not in c.columns:
        raise ConfigError(f"{key}: the network file {file} has no column {name!r}. Fix: add a column {name} with each "
                          "study's value (on every row of the study, or on one), or correct the covariate's name")
    values = {}
    for study, g in c.groupby("study", sort=False):
        seen = sorted({str(v).strip() for v in g[name] if str(v).strip() not in ("", "nan")})
        if len(seen) > 1:
            raise ConfigError(f"{key}: study {study!r} has {len(seen)} different values in {file} ({', '.join(seen)}); a "
                              "study-level covariate has one. Fix: give the study one value")
        if seen:
            values[str(study)] = seen[0]
    try:
        values = {s: float(v) for s, v in values.items()}
    except ValueError:
        pass
    return values, f"column {name} of {file} (study-level: one value per study)"


def _classes(cfg, network, req: ClassesRequest) -> Classes:
    if req.column is not None:
        meta = _treatments_table(cfg)
        if req.column not in meta.columns:
            raise ConfigError(f"{cfg.path}: [model.classes] column = \"{req.column}\": the treatments table has no such "
                              f"column; {closest(req.column, tuple(meta.columns))}. Fix: use one of "
                              f"{', '.join(c for c in meta.columns if c not in ('id', 'label'))}")
        mapping = dict(zip(meta["id"].astype(str), meta[req.column].astype(str)))
        where = f"column \"{req.column}\" of the treatments table"
    else:
        mapping, where = dict(req.mapping), "[model.classes.mapping]"
    absent = [t for t in network.treatments if not mapping.get(t, "").strip() or mapping.get(t) == "nan"]
    if absent:
        raise ConfigError(f"{cfg.path}: [model.classes]: no class for treatment(s) {', '.join(absent)} in {where}. Fix: "
                          "give each treatment of the network a class")
    return Classes({t: mapping[t] for t in network.treatments}, effects=req.effects, sd_prior=req.sd_prior)


def _treatments_table(cfg):
    import pandas as pd

    if cfg.evidence_dir is not None:
        return pd.read_csv(Path(cfg.evidence_dir) / "treatments.csv", dtype=str, keep_default_na=False)
    if cfg.treatments_path is not None:
        return pd.read_csv(cfg.treatments_path, dtype=str, keep_default_na=False)
    raise ConfigError(f"{cfg.path}: [model.classes] column needs a treatments table (data/treatments.csv, or [data] "
                      "treatments = \"file.csv\"). Fix: write the classes as a [model.classes.mapping] table")


@dataclass(frozen=True)
class Resolved:
    """The extensions with everything the fit needs, checked against the network."""

    regression: Regression | None = None
    at: tuple = ()
    values: dict = field(default_factory=dict)
    source: str = ""
    classes: Classes | None = None


def resolve_extensions(cfg, network) -> Resolved | None:
    """Covariate values and classes for this network, checked before any fitting (None: no extension asked for).

    Raises ConfigError naming the trials without a covariate value or the treatments without a class, and for
    arm-level (binomial) networks, whose meta-regression `nma run` does not fit yet."""
    ext = getattr(cfg, "extensions", None)
    if not ext:
        return None
    from nma.core.network import Network

    if not isinstance(network, Network):
        raise ConfigError(f"{cfg.path}: [model.regression] / [model.classes] on arm-level (binomial) data: nma run fits "
                          "them on the exact engine, which needs a contrast-level network. Fix: remove the table, or "
                          "fit in Python with nma.models.regression_pymc")
    out = Resolved()
    if ext.classes is not None:
        out = Resolved(classes=_classes(cfg, network, ext.classes))
    if ext.regression is not None:
        values, source = _covariate(cfg, network, ext.regression)
        out = Resolved(ext.regression.regression, ext.regression.at, values, source, out.classes)
    return out


def fit_extensions(resolved: Resolved | None, network, spec) -> tuple[ExtensionFit, ...]:
    """The meta-regression and/or class-effects model of the config, on the exact engine with the main spec.

    A config with both tables fits one model with both (the covariate's section and the classes' section read the
    same posterior)."""
    if resolved is None:
        return ()
    post = fit_regression(network, resolved.regression, resolved.classes, values=resolved.values or None, spec=spec)
    out = []
    if resolved.regression is not None:
        out.append(ExtensionFit("regression", post, resolved.regression, resolved.classes, resolved.at,
                                dict(resolved.values), resolved.source))
    if resolved.classes is not None:
        out.append(ExtensionFit("classes", post, resolved.regression, resolved.classes))
    return tuple(out)
