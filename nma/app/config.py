"""Analysis configs (TOML): parsed strictly, with the closest valid key suggested for a typo."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nma.constants import BINARY
from nma.core.measures import MEASURES, Measure, measure_of
from nma.core.tables import closest
from nma.models.frequentist import METHODS as FREQUENTIST_METHODS
from nma.app.extensions import CLASSES_KEYS, REGRESSION_KEYS, Extensions, parse_extensions
from nma.errors import ConfigError, ModelSpecError
from nma.evidence.nodes import NodeGrouping
from nma.evidence.selection import (
    DEFAULT_REFERENCE_VARIANCE_FRACTION,
    Selection,
    TrialChoice,
)
from nma.models.sampler import SamplerConfig
from nma.models.spec import ENGINES, ModelSpec

#: The largest [sampler] seed: PyMC and NumPy's legacy generators take 32-bit unsigned seeds.
MAX_SEED = 2**32 - 1

#: Allowed keys and their types, per table. Anything else is an error with a suggestion.
SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "": {"title": str, "description": str, "data": dict, "model": dict, "sampler": dict, "decision": dict,
         "picos": list, "frequentist": dict},
    "data": {"evidence": str, "contrasts": str, "arms": str, "setting": str, "outcome": str, "population": str,
             "outcome_definition": str, "exclude_trials": list, "include_trials": list, "reference_variance_fraction": (int, float),
             "trials": dict, "nodes": dict, "nodes_rationale": str, "responders_from_rates": bool,
             "ratios": str, "measure": str, "treatments": str, "labels": dict},
    "data.trials.*": {"analysis": str, "population": str, "source": str, "outcome_definition": str},
    "model": {"effects": str, "reference": str, "d_prior_sd": (int, float), "tau_prior": str,
              "lower_is_better": bool, "engine": str, "allow_unconverged": bool, "mid": (int, float),
              "league_order": list, "league_upper": str, "forest_comparators": list,
              "reference_median_months": (int, float), "nodesplit": bool, "checks": bool,
              "cross_check": bool, "regression": dict, "classes": dict},
    "model.regression": REGRESSION_KEYS,
    "model.classes": CLASSES_KEYS,
    "sampler": {"seed": int, "chains": int, "draws": int, "tune": int, "target_accept": float, "cores": int},
    "decision": {"thresholds": list, "comparator": str},
    "frequentist": {"enabled": bool, "method": str},   # the report's GLS companion (nma/reporting/section_frequentist.py)
    "picos": {"name": str, "population": (str, list), "outcome": (str, list), "comparator": (str, list)},
}


@dataclass(frozen=True)
class AnalysisConfig:
    path: Path
    raw: dict
    title: str
    selection: Selection | None       # from data/ evidence
    evidence_dir: Path | None
    contrasts_path: Path | None       # or a contrast CSV
    model: dict
    engine: str
    reference: str | None
    allow_unconverged: bool
    sampler: SamplerConfig
    mid: float | None = None
    league_order: tuple[str, ...] | None = None
    league_upper: str = "network"
    forest_comparators: tuple[str, ...] = ()
    reference_median_months: float | None = None
    nodesplit: bool = True             # [model] nodesplit = false skips node-splitting (UME still runs)
    checks: bool = True                # [model] checks = false skips every model check (quick exploratory runs)
    cross_check: bool = False          # [model] cross_check = true fits MCMC beside the exact engine and compares
    arms_path: Path | None = None      # arm-level binary CSV (study, treatment, r, n), with contrasts_path: mixed
    ratios_path: Path | None = None    # or a ratio CSV (study, treatment, hr, ci_lower, ci_upper[, ci_level, ...])
    measure: Measure = MEASURES["HR"]  # [data] measure of a contrasts/ratios file (data/ holds HRs, or ORs for counts)
    treatments_path: Path | None = None   # [data] treatments = "treatments.csv" (id, label[, description])
    labels: dict = field(default_factory=dict)   # [data.labels] id = "label"
    extensions: Extensions = Extensions()        # [model.regression], [model.classes] (nma/app/extensions.py)
    decision_thresholds: tuple[float, ...] | None = None   # [decision] thresholds (shown scale); None: null and mid
    decision_comparator: str | None = None       # [decision] comparator; None: the reference
    pico: str | None = None                      # one expansion of [[picos]] (nma/app/picos.py): its name suffix

    @property
    def name(self) -> str:
        return f"{self.path.stem}__{self.pico}" if self.pico else self.path.stem

    @property
    def binary(self) -> bool:
        """Arm-level binary evidence: the binomial model, odds ratios (follows from the data, not a setting)."""
        return self.arms_path is not None or (self.selection is not None and self.selection.outcome in BINARY)


#: Keys that would make a config more than data. TOML has no include or code, and nma adds none.
ACTIVE_KEYS = ("include", "includes", "import", "imports", "extends", "inherit", "exec", "eval", "run", "script",
               "command", "shell", "python", "plugin", "plugins", "load")
#: How to write a value of each type, for the Fix of a wrong-type error.
_TYPE_FIX = {str: "put the value in double quotes", int: "write a whole number without quotes",
             float: "write a number without quotes, e.g. 0.95", bool: "write true or false without quotes",
             list: 'write a list in brackets, e.g. ["T1", "T2"]', dict: "make it a [table]"}


def _check_table(table: dict, where: str, path: Path) -> None:
    schema = SCHEMA["data.trials.*" if where.startswith("data.trials.") else where]
    for key, value in table.items():
        label = f"[{where}] {key}" if where else key
        if key not in schema and key.lower() in ACTIVE_KEYS:
            raise ConfigError(f"{path}: unknown key {label}: nma configs are data only, they cannot include other files "
                              "or run code. Fix: delete the key and write the settings into this file (README.md lists "
                              "every key)")
        if key not in schema:
            raise ConfigError(f"{path}: unknown key {label}; {closest(key, schema)}. Fix: rename or delete the key "
                              "(README.md lists every key)")
        expected = schema[key]
        types = expected if isinstance(expected, tuple) else (expected,)
        fix = f". Fix: {_TYPE_FIX[types[-1]]}"
        if isinstance(value, bool) and bool not in types:
            raise ConfigError(f"{path}: {label} must be {_type_name(expected)}, got {value!r}{fix}")
        if not isinstance(value, expected):
            raise ConfigError(f"{path}: {label} must be {_type_name(expected)}, got {type(value).__name__} {value!r}{fix}")


def _type_name(t) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list", dict: "a table"}
    return " or ".join(names[x] for x in (t if isinstance(t, tuple) else (t,)))


def _node_grouping(data: dict, path: Path) -> NodeGrouping:
    """[data.nodes] node = ["id", ...] with [data] nodes_rationale: pooling is never silent, so a reason is required."""
    pools = data.get("nodes", {})
    for node, members in pools.items():
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise ConfigError(f"{path}: [data.nodes] {node} must be a non-empty list of treatment ids, "
                              f'e.g. {node} = ["td", "t_taxane"]')
    rationale = data.get("nodes_rationale", "").strip()
    if pools and not rationale:
        raise ConfigError(f"{path}: [data.nodes] pools regimens but [data] nodes_rationale is missing. Fix: say why the "
                          "pooled regimens can be treated as one node (e.g. the same anti-HER2 therapy, backbones judged "
                          "exchangeable)")
    return NodeGrouping({node: tuple(members) for node, members in pools.items()}, rationale)


#: [data] keys of a network given as a file.
FILE_ROUTE_KEYS = ("contrasts", "arms", "ratios", "measure", "treatments", "labels")


def _file_route(data: dict, model: dict, path: Path, resolve) -> tuple:
    """[data] contrasts / ratios / arms = "file.csv", with measure, treatments = "file.csv" or [data.labels]:
    (contrasts_path, arms_path, ratios_path, measure, treatments_path, labels)."""
    extra = sorted(set(data) - set(FILE_ROUTE_KEYS))
    if extra:
        raise ConfigError(f"{path}: [data] contrasts/ratios/arms = ... take the network as given. Fix: remove "
                          f"{', '.join(extra)}")
    if "ratios" in data and ("contrasts" in data or "arms" in data):
        other = "contrasts" if "contrasts" in data else "arms"
        raise ConfigError(f"{path}: [data] ratios and [data] {other} are both given. Fix: give the network as one "
                          "file: ratios with their CIs, or contrasts (log-ratios with SEs), or arm counts")
    default = "OR" if "arms" in data else "HR"
    try:
        measure = measure_of(data.get("measure", default), "[data] measure")
    except ModelSpecError as err:
        raise ConfigError(f"{path}: {err}") from None
    if "arms" in data and measure.code != "OR":
        raise ConfigError(f"{path}: [data] measure = \"{measure.code}\" with [data] arms: arm counts (responders r of "
                          "n) are modelled as odds ratios. Fix: remove [data] measure, or write measure = \"OR\"")
    if "ratios" in data and not measure.is_ratio:
        raise ConfigError(f"{path}: [data] measure = \"{measure.code}\" ({measure.name}) is a difference, but [data] "
                          "ratios reads ratios with their CIs. Fix: give the differences and their SEs as [data] "
                          f"contrasts = \"file.csv\" (columns study, treatment, y, se) with measure = \"{measure.code}\", "
                          "or set measure to HR, OR, RR or RaR")
    if "reference_median_months" in model and measure.code != "HR" and "arms" not in data:
        raise ConfigError(f"{path}: [model] reference_median_months implies medians from hazard ratios; [data] measure "
                          f"is {measure.code} ({measure.name}). Fix: remove reference_median_months")
    if "treatments" in data and "labels" in data:
        raise ConfigError(f"{path}: [data] treatments and [data.labels] are both given. Fix: keep one of them (the "
                          "treatments file can hold a description column too)")
    labels = data.get("labels", {})
    for key, label in labels.items():
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{path}: [data.labels] {key} must be a non-empty string, got {label!r}. Fix: write "
                              f'{key} = "label as it should print"')
    get = lambda key: resolve(data[key]) if key in data else None  # noqa: E731
    return get("contrasts"), get("arms"), get("ratios"), measure, get("treatments"), dict(labels)


def read_toml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found. Fix: check the path; the shipped configs are in analyses/")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: TOML syntax error: {err}. Fix: check quotes, brackets and '=' on that line") from err
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not valid UTF-8 (byte {err.start}). Fix: re-save the file as UTF-8") from err


def load_config(path: str | Path, raw: dict | None = None, pico: str | None = None) -> AnalysisConfig:
    """The config in `path`; with `raw`, that content instead of the file's (a [[picos]] expansion, named `pico`)."""
    path = Path(path)
    raw = read_toml(path) if raw is None else raw
    _check_table(raw, "", path)
    data = raw.get("data", {})
    model = raw.get("model", {})
    sampler = raw.get("sampler", {})
    _check_table(data, "data", path)
    _check_table(model, "model", path)
    _check_table(sampler, "sampler", path)
    decision = raw.get("decision", {})
    _check_table(decision, "decision", path)
    thresholds = decision.get("thresholds")
    if thresholds is not None and (not thresholds or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in thresholds)):
        raise ConfigError(f"{path}: [decision] thresholds = {thresholds!r} must be a non-empty list of numbers on the "
                          "shown scale. Fix: write e.g. thresholds = [0.8, 1.0, 1.25] (ratios) or [-2, 0, 2] (differences)")
    frequentist = raw.get("frequentist", {})
    _check_table(frequentist, "frequentist", path)
    if "method" in frequentist and frequentist["method"] not in FREQUENTIST_METHODS:
        raise ConfigError(f"{path}: [frequentist] method = {frequentist['method']!r}; "
                          f"{closest(str(frequentist['method']), FREQUENTIST_METHODS)}. Fix: use one of: "
                          f"{', '.join(FREQUENTIST_METHODS)} (REML as metafor, DL as netmeta, fixed for tau = 0)")
    for table in ("regression", "classes"):
        if table in model:
            _check_table(model[table], f"model.{table}", path)
    for trial, choice in data.get("trials", {}).items():
        if not isinstance(choice, dict):
            raise ConfigError(f"{path}: [data.trials.{trial}] must be a table. Fix: write it as a [data.trials.{trial}] "
                              "section with analysis, population, source or outcome_definition")
        _check_table(choice, f"data.trials.{trial}", path)
    base = path.parent
    resolve = lambda p: (base / p).resolve() if not Path(p).is_absolute() else Path(p)  # noqa: E731
    selection = evidence_dir = contrasts_path = arms_path = ratios_path = treatments_path = None
    measure, labels = MEASURES["HR"], {}
    if "contrasts" in data or "arms" in data or "ratios" in data:
        contrasts_path, arms_path, ratios_path, measure, treatments_path, labels = _file_route(data, model, path, resolve)
    else:
        for key in ("measure", "treatments", "labels"):
            if key in data:
                raise ConfigError(f"{path}: [data] {key} applies to a network given as a file ([data] contrasts, ratios "
                                  "or arms); data/ names its own treatments and holds hazard ratios (odds ratios for "
                                  f"response counts). Fix: remove [data] {key}")
        for key in ("setting", "outcome"):
            if key not in data:
                raise ConfigError(f"{path}: [data] needs '{key}'. Fix: add [data] {key} = \"...\" (or 'contrasts = "
                                  "\"file.csv\"' for a contrast table)")
        evidence_dir = resolve(data.get("evidence", "../data"))
        exclude = data.get("exclude_trials", [])
        include = data.get("include_trials", [])
        if not all(isinstance(t, str) for t in (*exclude, *include)):
            raise ConfigError(f"{path}: [data] exclude_trials and include_trials must be lists of trial names. Fix: "
                              'quote each name, e.g. ["CLEOPATRA"]')
        if exclude and include:
            raise ConfigError(f"{path}: [data] include_trials and exclude_trials are both given. Fix: keep one of them")
        fraction = data.get("reference_variance_fraction", DEFAULT_REFERENCE_VARIANCE_FRACTION)
        if not 0 < fraction < 1:
            raise ConfigError(f"{path}: [data] reference_variance_fraction = {fraction} must lie strictly between 0 and 1. "
                              "Fix: use a fraction such as 0.5 (exact for arms with equal events)")
        nodes = _node_grouping(data, path)
        selection = Selection(setting=data["setting"], outcome=data["outcome"], population=data.get("population", "itt"),
                              outcome_definition=data.get("outcome_definition"),
                              trials={t: TrialChoice(**c) for t, c in data.get("trials", {}).items()},
                              exclude_trials=tuple(exclude), include_trials=tuple(include),
                              reference_variance_fraction=float(fraction), nodes=nodes,
                              responders_from_rates=data.get("responders_from_rates", False))
        if selection.responders_from_rates and selection.outcome not in BINARY:
            raise ConfigError(f"{path}: [data] responders_from_rates applies to binary outcomes ({', '.join(BINARY)}), "
                              f"not '{selection.outcome}'. Fix: remove the line")
    engine = model.get("engine", "auto")
    if engine not in ENGINES:
        raise ConfigError(f"{path}: [model] engine = {engine!r}; {closest(str(engine), ENGINES)}. Fix: use one of: "
                          f"{', '.join(ENGINES)}")
    defaults = SamplerConfig()
    try:
        sampler_cfg = SamplerConfig(**{**defaults.as_dict(), **sampler})
    except TypeError as err:  # pragma: no cover - keys are checked above
        raise ConfigError(f"{path}: [sampler] {err}") from err
    for key in ("chains", "draws", "tune", "cores"):
        if key == "cores" and sampler_cfg.cores is None:   # default: one core per chain, up to the machine's
            continue
        if getattr(sampler_cfg, key) < (1 if key != "tune" else 0):
            raise ConfigError(f"{path}: [sampler] {key} = {getattr(sampler_cfg, key)} must be "
                              f"{'positive' if key != 'tune' else 'zero or more'}. Fix: set {key} to a whole number "
                              + (f"such as {getattr(defaults, key)} (the default)" if key != "cores" else
                                 "such as 2, or remove it (the default: one core per chain)"))
    if not 0 <= sampler_cfg.seed <= MAX_SEED:
        raise ConfigError(f"{path}: [sampler] seed = {sampler_cfg.seed}: a seed is a whole number from 0 to {MAX_SEED} "
                          "(2**32 - 1, what the sampler's random generators accept). Fix: use e.g. seed = 1")
    if not 0.5 <= sampler_cfg.target_accept < 1:
        raise ConfigError(f"{path}: [sampler] target_accept = {sampler_cfg.target_accept} must be in [0.5, 1). Fix: use "
                          "a probability such as 0.95 (the default)")
    model_only = {k: v for k, v in model.items() if k not in ("engine", "reference", "allow_unconverged", "mid", "league_order",
                                                          "league_upper", "forest_comparators", "reference_median_months",
                                                          "nodesplit", "checks", "cross_check", "regression",
                                                          "classes")}
    if model.get("league_upper", "network") not in ("network", "direct"):
        raise ConfigError(f"{path}: [model] league_upper = {model['league_upper']!r}. Fix: use \"network\" or \"direct\"")
    try:  # priors and effects are checked now, so their errors name this file before anything is loaded
        ModelSpec.from_config(model_only, warn=False)
    except ModelSpecError as err:
        raise ModelSpecError(f"{path}: {err}") from None
    if "reference_median_months" in model and not 0 < model["reference_median_months"] < math.inf:
        raise ConfigError(f"{path}: [model] reference_median_months = {model['reference_median_months']} must be a "
                          "positive, finite number of months. Fix: type the reference arm's "
                          "median in months, e.g. 12.4")
    cfg = AnalysisConfig(path=path, raw=raw, title=raw.get("title", path.stem), selection=selection,
                          evidence_dir=evidence_dir, contrasts_path=contrasts_path, model=model_only, engine=engine,
                          reference=model.get("reference"), allow_unconverged=model.get("allow_unconverged", False),
                          sampler=sampler_cfg, mid=model.get("mid"),
                          league_order=tuple(model["league_order"]) if "league_order" in model else None,
                          league_upper=model.get("league_upper", "network"),
                          forest_comparators=tuple(model.get("forest_comparators", ())),
                          reference_median_months=model.get("reference_median_months"),
                          nodesplit=model.get("nodesplit", True), checks=model.get("checks", True),
                          cross_check=model.get("cross_check", False),
                          arms_path=arms_path, ratios_path=ratios_path, measure=measure,
                          treatments_path=treatments_path, labels=labels, extensions=parse_extensions(model, path),
                          decision_thresholds=None if thresholds is None else tuple(float(t) for t in thresholds),
                          decision_comparator=decision.get("comparator"), pico=pico)
    return cfg
