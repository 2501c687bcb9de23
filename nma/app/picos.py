"""[[picos]]: one config expanded into population x outcome x comparator analyses.

A config's [data] and [model] are the template; each ``[[picos]]`` table lists populations, outcomes and comparators
(a string or a list each), and every combination becomes one analysis, written to ``outputs/<stem>__<pico>/``:
``[data] population`` and ``outcome`` replaced, the comparator made the reference and the ``[decision] comparator``.
Every expansion is loaded and checked before anything runs; provenance records the file (its hash) and the expanded
config (run.json ``config``).
"""

from __future__ import annotations

import copy
import re
from itertools import product
from pathlib import Path

from nma.app.config import AnalysisConfig, _check_table, load_config, read_toml
from nma.errors import ConfigError

AXES = ("population", "outcome", "comparator")


def has_picos(path: str | Path) -> bool:
    """Whether a config file has a [[picos]] list (False for anything unreadable: loading it reports why)."""
    try:
        return bool(read_toml(Path(path)).get("picos"))
    except ConfigError:
        return False


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", value).strip("_").lower()


def pico_configs(path: str | Path) -> list[AnalysisConfig]:
    """Every analysis of a config: its [[picos]] combinations in order, or the config itself when it has none.

    Raises ConfigError naming the [[picos]] entry and key for an entry that is not a table, lists no axis, gives an
    empty or non-string value, changes population or outcome of a network given as a file, or repeats a combination.
    """
    path = Path(path)
    base = load_config(path)
    picos = base.raw.get("picos")
    if not picos:
        return [base]
    out, seen = [], {}
    for i, entry in enumerate(picos, start=1):
        where = f"{path}: [[picos]] entry {i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is {entry!r}, not a table. Fix: write each as a [[picos]] table with population, "
                              "outcome and/or comparator")
        _check_table(entry, "picos", path)
        axes = {k: entry[k] if isinstance(entry[k], list) else [entry[k]] for k in AXES if k in entry}
        if not axes:
            raise ConfigError(f"{where} names no population, outcome or comparator. Fix: add at least one, e.g. "
                              'outcome = ["pfs", "os"]')
        for key, values in axes.items():
            if not values or not all(isinstance(v, str) and v.strip() for v in values):
                raise ConfigError(f"{where}: {key} = {entry[key]!r} must be a non-empty string or list of strings. Fix: "
                                  f'write e.g. {key} = ["{"itt" if key == "population" else "pfs" if key == "outcome" else "td"}"]')
        if base.selection is None and ({"population", "outcome"} & set(axes)):
            raise ConfigError(f"{where}: population and outcome select from data/; this config's network is a file "
                              "([data] contrasts, ratios or arms). Fix: keep only comparator in [[picos]], or write one "
                              "config per file")
        for combo in product(*axes.values()):
            choice = dict(zip(axes, combo))
            name = "_".join([*([_slug(entry["name"])] if entry.get("name") else []), *(_slug(v) for v in combo)])
            if name in seen:
                raise ConfigError(f"{where}: the combination {choice} repeats entry {seen[name]}'s (both would be "
                                  f"outputs/{path.stem}__{name}/). Fix: list each combination once, or give the entries "
                                  "different names")
            seen[name] = i
            raw = copy.deepcopy(base.raw)
            raw.pop("picos")
            data, model = raw.setdefault("data", {}), raw.setdefault("model", {})
            for key in ("population", "outcome"):
                if key in choice:
                    data[key] = choice[key]
            if "comparator" in choice:
                model["reference"] = choice["comparator"]
                raw.setdefault("decision", {})["comparator"] = choice["comparator"]
            raw["title"] = f"{raw.get('title', path.stem)} [{', '.join(f'{k} {v}' for k, v in choice.items())}]"
            out.append(load_config(path, raw=raw, pico=name))
    return out
