"""`nma check`: validate evidence and describe the network of every setting x outcome x population."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from nma.constants import BINARY
from nma.core.network import connected_components, study_edges
from nma.evidence.evidence import Evidence, load
from nma.inputs.contrasts import load_contrasts


def is_contrast_file(path: Path) -> bool:
    try:
        header = path.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (IndexError, OSError):
        return False
    cols = {c.strip() for c in header.split(",")}
    return {"study", "treatment"} <= cols and "hr" not in cols  # a contrast table, even one missing y or se


def evidence_networks(evidence: Evidence) -> list[dict]:
    """One entry per setting x outcome x population that reports HRs: trials, treatments, comparisons, components."""
    rows = evidence.rows
    hr = rows[rows["hr"].notna()]
    out = []
    for (setting, outcome, population), g in hr.groupby(["setting", "outcome", "population"], sort=True):
        edges = sorted({tuple(sorted((a, c))) for a, c in zip(g["arm"], g["comparator"])})
        treatments = sorted(set(g["arm"]) | set(g["comparator"]))
        trials = sorted(set(g["trial"]))
        out.append({"setting": setting, "outcome": outcome, "population": population, "trials": trials,
                    "treatments": treatments, "comparisons": [f"{a} vs {b}" for a, b in edges],
                    "components": connected_components(edges, treatments),
                    "analyses": sorted({f"{t}:{a}" for t, a in zip(g["trial"], g["analysis"])})})
    return out + binary_networks(evidence)


def binary_networks(evidence: Evidence) -> list[dict]:
    """Binary outcomes (arm-level): trials whose arms carry responders and n form the network; trials with rates
    only are listed beside it (they enter only through [data] responders_from_rates, when a count reproduces them)."""
    rows = evidence.rows
    binary = rows[rows["outcome"].isin(BINARY)]
    out = []
    for (setting, outcome, population), g in binary.groupby(["setting", "outcome", "population"], sort=True):
        counted = g[g["responders"].notna() & g["n"].notna()]
        edges, treatments, trials = [], set(), []
        for trial, t in counted.groupby("trial", sort=True):
            arms = sorted(set(t["arm"]))
            if len(arms) > 1:
                trials.append(trial)
                treatments |= set(arms)
                edges += [(a, b) for i, a in enumerate(arms) for b in arms[i + 1:]]
        rates_only = sorted(set(g.loc[g["rate_percent"].notna(), "trial"]) - set(trials))
        out.append({"setting": setting, "outcome": outcome, "population": population, "trials": trials,
                    "treatments": sorted(treatments), "comparisons": [f"{a} vs {b}" for a, b in sorted(set(edges))],
                    "components": connected_components(sorted(set(edges)), sorted(treatments)),
                    "analyses": sorted({f"{t}:{a}" for t, a in zip(g["trial"], g["analysis"])}),
                    "rates_only": rates_only})
    return out


def describe_contrasts(df: pd.DataFrame) -> dict:
    edges = [(a, b) for _, a, b in study_edges(df)]
    treatments = sorted(set(df["treatment"]), key=str)
    return {"trials": sorted(set(df["study"]), key=str), "treatments": treatments,
            "comparisons": sorted({" vs ".join(sorted((a, b), key=str)) for a, b in edges}),
            "components": connected_components(edges, treatments)}


def format_network(entry: dict, title: str) -> str:
    comps = entry["components"]
    status = "none (no trial reports responders and n for two or more arms)" if not comps else \
        "connected" if len(comps) == 1 else f"DISCONNECTED ({len(comps)} components: " + \
        "; ".join("{" + ", ".join(map(str, c)) + "}" for c in comps) + ")"
    lines = [title,
             f"  trials ({len(entry['trials'])}): {', '.join(map(str, entry['trials']))}",
             f"  treatments ({len(entry['treatments'])}): {', '.join(map(str, entry['treatments']))}",
             f"  comparisons: {', '.join(entry['comparisons'])}",
             f"  network: {status}"]
    if len(entry["trials"]) == 1:
        lines.append("  note: a single trial; heterogeneity (tau) cannot be estimated and nothing is indirect")
    if entry.get("rates_only"):
        lines.append(f"  rates without counts (enter only with [data] responders_from_rates): {', '.join(entry['rates_only'])}")
    return "\n".join(lines)


def config_paths(path: Path) -> list[Path]:
    """Analysis configs named by a path: one .toml file, or every .toml in a folder (e.g. analyses/)."""
    if path.is_file() and path.suffix == ".toml":
        return [path]
    return sorted(path.glob("*.toml")) if path.is_dir() else []


def describe_analysis(config: Path) -> str:
    """The network an analysis config builds (after its selection and node pooling), with its loops: the
    comparisons that have direct and independent indirect evidence, which node-splitting can test."""
    from nma.app.assemble import analysis_network
    from nma.app.config import load_config
    from nma.checks.inconsistency import split_comparisons
    from nma.models.families import family_of

    cfg = load_config(config)
    assembled = analysis_network(cfg)
    network = assembled.network
    chosen = "".join(f"\n  selection: {line}" for line in assembled.log if ": analysis '" in line)
    if not family_of(network).supports_designs(network):
        return f"{config} ({cfg.title})\n" + "\n".join("  " + line for line in network.summary().splitlines()) + chosen
    splits = split_comparisons(network)
    loops = ("  loops: none (no comparison has both direct and independent indirect evidence)" if not splits else
             f"  loops: {len(splits)} comparison(s) with direct and independent indirect evidence: " +
             "; ".join(f"{s.treatment} vs {s.comparator} (direct: {', '.join(map(str, s.studies))})" for s in splits))
    return (f"{config} ({cfg.title})\n" + "\n".join("  " + line for line in network.summary().splitlines()) + chosen
            + "\n" + loops)


def check_paths(paths: list[str]) -> tuple[list[str], list[str]]:
    """Validate each path (a data folder, an evidence CSV, a contrast CSV, or analysis configs: a .toml or a
    folder of them). Returns (report lines, warnings)."""
    lines: list[str] = []
    caught: list[str] = []
    for raw in paths or ["data"]:
        path = Path(raw)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            if configs := config_paths(path):
                lines += [describe_analysis(c) for c in configs]
            elif path.is_file() and is_contrast_file(path):
                df = load_contrasts(path)
                lines.append(format_network(describe_contrasts(df), f"{path} (contrast table)"))
            else:
                data_dir, evidence_file = (path, None) if path.is_dir() or not path.suffix else (path.parent, path)
                if evidence_file is not None and not (data_dir / "treatments.csv").exists():
                    data_dir = Path("data")
                evidence = load(data_dir, evidence_file)
                lines.append(f"{evidence!r}")
                for entry in evidence_networks(evidence):
                    title = f"{entry['setting']} / {entry['outcome']} / population {entry['population']}"
                    lines.append(format_network(entry, title) + "\n  analyses: " + ", ".join(entry["analyses"]))
        caught += [str(w.message) for w in record]
    return lines, caught
