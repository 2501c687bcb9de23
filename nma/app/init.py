"""`nma init <csv>`: a commented analysis config for a user's CSV of ratios, contrasts or arm counts.

The kind of table is read from its header (the columns each loader requires); the CSV is loaded and validated with
the loader `nma run` uses, so a config is only written for a table that would run. An existing file is never
overwritten.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from nma.core.ratios import RATIO_COLUMN_CODES
from nma.errors import ConfigError, EvidenceError

#: What each kind of table is called in a config's [data] section, and the columns that identify it.
KINDS = {"ratios": ("ci_lower", "ci_upper"), "contrasts": ("y", "se"), "arms": ("r", "n")}
#: The ratio column's name -> the measure it implies ('ratio' says nothing: HR, said in the config to change).
RATIO_MEASURES = {"hr": "HR", "or": "OR", "rr": "RR", "rar": "RaR", "ratio": "HR"}
DESCRIPTIONS = {"ratios": "ratios with their confidence intervals, as published",
                "contrasts": "contrasts (y on the model scale, se)", "arms": "arm-level counts (r responders of n)"}


def header_of(path: Path) -> list[str]:
    """The CSV's column names (a spreadsheet's byte-order mark and CRLF line endings accepted)."""
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    return [h.strip().lower() for h in next(csv.reader(io.StringIO(text, newline="")), [])]


def detect_kind(path: Path) -> tuple[str, str]:
    """('ratios' | 'contrasts' | 'arms', measure code) from the CSV's header, or an EvidenceError naming row 1."""
    if not path.is_file():
        raise EvidenceError("file not found", file=str(path), fix="give the path of your CSV of trial results")
    cols = set(header_of(path))
    ratio = [c for c in (*RATIO_COLUMN_CODES, "ratio") if c in cols]
    if ratio and set(KINDS["ratios"]) <= cols:
        return "ratios", RATIO_MEASURES[ratio[0]]
    if set(KINDS["contrasts"]) <= cols:
        return "contrasts", "HR"
    if set(KINDS["arms"]) <= cols:
        return "arms", "OR"
    raise EvidenceError(f"cannot tell what this table holds from its columns ({', '.join(sorted(cols)) or 'none'})",
                        file=str(path), row=1,
                        fix="name the columns study, treatment and either hr (or or, rr, ratio), ci_lower, ci_upper "
                            "(ratios with CIs); or y, se (contrasts); or r, n (arm counts)")


def load_table(path: Path, kind: str, measure: str) -> pd.DataFrame:
    """The table loaded and validated as `nma run` will load it (errors name its file, row and column)."""
    from nma.inputs.arms import load_arms
    from nma.inputs.contrasts import load_contrasts
    from nma.inputs.ratios import load_ratios

    if kind == "ratios":
        return load_ratios(path, measure)
    if kind == "contrasts":
        return load_contrasts(path, measure=measure)
    return load_arms(path)


def toml_string(text: str) -> str:
    """A TOML basic string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(csv_path: Path, config_path: Path) -> tuple[str, str]:
    """The commented config for `csv_path`, as written to `config_path` (paths in it are relative to the config)."""
    kind, measure = detect_kind(csv_path)
    table = load_table(csv_path, kind, measure)
    studies = table.groupby("study", sort=False)["treatment"].apply(list)
    counts = Counter(t for arms in studies for t in arms)
    treatments = list(dict.fromkeys(table["treatment"].astype(str)))
    reference = counts.most_common(1)[0][0]
    rel = os.path.relpath(csv_path.resolve(), config_path.resolve().parent).replace(os.sep, "/")
    binary = kind == "arms"
    lines = [
        f"# Analysis config written by `nma init {csv_path}`: {len(studies)} studies, {len(treatments)} treatments.",
        "# Edit what is marked EDIT, then: nma run " + str(config_path),
        "# Every key is described in README.md (\"How to add an analysis\" and \"Your own data\").",
        "",
        f"title = {toml_string('EDIT: the question, e.g. Second-line treatments: progression-free survival')}",
        f"description = {toml_string(f'Network of {DESCRIPTIONS[kind]} from {csv_path.name}.')}",
        "",
        "[data]",
        f"{kind} = {toml_string(rel)}" + " " * max(1, 30 - len(kind) - len(rel)) + f"# {DESCRIPTIONS[kind]}",
    ]
    if kind == "arms":
        lines.append("# measure: odds ratios (binomial likelihood); arm counts take no measure key")
    else:
        note = ("HR, OR, RR or RaR: the measure of the ratio column" if kind == "ratios" else
                "EDIT: the scale of y (HR, OR, RR: log ratios; MD, SMD, RD: differences)")
        lines.append(f"measure = {toml_string(measure)}" + " " * 16 + f"# {note}")
    lines += ["", "[data.labels]                   # EDIT: full names shown in the report (optional; ids otherwise)"]
    lines += [f"# {toml_string(t)} = {toml_string('full name of ' + t)}" for t in treatments]
    lines += [
        "",
        "[model]",
        'effects = "random"              # or "fixed"',
        f"reference = {toml_string(reference)}" + " " * max(1, 20 - len(reference)) +
        "# EDIT: the comparator every effect is shown against (here: the treatment in most studies)",
        "d_prior_sd = 10                 # vague normal prior SD on each effect (model scale)",
        'tau_prior = "half-normal(0.5)"  # heterogeneity prior; say why in the report (see README.md)',
        f"lower_is_better = {'false' if binary else 'true'}" + " " * (10 if binary else 11) +
        ("# EDIT: true when a lower odds of the outcome is better (e.g. adverse events)" if binary else
         "# true for hazards of death or progression; false when a higher ratio is better"),
        f'engine = {toml_string("mcmc" if binary else "exact")}' + " " * (17 if binary else 16) +
        ("# binomial data are fitted by MCMC" if binary else "# exact: no sampling, seconds; or \"mcmc\" (PyMC)"),
        'league_upper = "direct"         # direct evidence above the league table\'s diagonal',
        "",
        "[sampler]",
        "seed = 1                        # every number written is reproducible from this seed",
        "",
    ]
    return "\n".join(lines), kind


def write_config(csv_path: str | Path, out: str | Path | None = None) -> tuple[Path, str]:
    """Write a commented config for `csv_path`; returns its path and the kind of table found.

    Parameters
    ----------
    csv_path : str or Path
        A CSV of ratios with CIs, contrasts or arm counts; validated before anything is written.
    out : str or Path, optional
        The config to write; default ``<csv stem>.toml`` beside the CSV.

    Raises
    ------
    ConfigError
        When the config already exists (never overwritten).
    EvidenceError
        When the CSV is missing, its kind cannot be told from its columns, or it fails validation.
    """
    csv_path = Path(csv_path)
    config = Path(out) if out is not None else csv_path.with_suffix(".toml")
    if config.exists():
        raise ConfigError(f"{config} already exists; nma init never overwrites a config. Fix: pass another path with "
                          f"--config, or delete {config} first")
    text, kind = config_text(csv_path, config)
    config.parent.mkdir(parents=True, exist_ok=True)
    with open(config, "x", encoding="utf-8", newline="\n") as f:    # "x": refuse a file that appeared meanwhile
        f.write(text)
    return config, kind
