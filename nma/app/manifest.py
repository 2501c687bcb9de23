"""outputs/manifest.json: one machine-readable list of every analysis in an outputs folder, for many PICOs at once.

Built from the run.json (and warnings.txt) each analysis folder holds (nothing is refitted or re-hashed), so it says
exactly what those runs recorded: the config and its hash, the inputs' hashes, engine, convergence and warnings. `nma run` with several
configs writes it after the last one; `make all` writes it last, with the index (`nma manifest outputs`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nma.constants import __version__
from nma.errors import ConfigError

MANIFEST = "manifest.json"


def manifest_entry(run_json: Path) -> dict:
    """One analysis as run.json recorded it; its output folder as the caller named it (relative stays relative)."""
    info = json.loads(run_json.read_text(encoding="utf-8"))
    # warnings.txt is the folder's complete list (report sections add theirs there, after run.json is written)
    listed = run_json.parent / "warnings.txt"
    warnings = ([line for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()] if listed.is_file()
                else [str(w) for w in info.get("warnings", [])])
    return {"name": run_json.parent.name, "title": info.get("title", ""),
            "config_path": info.get("config_path", ""), "config_sha256": info.get("config_sha256", ""),
            "input_hash": info.get("input_hash", ""), "inputs": dict(info.get("inputs", {})),
            "package_sha256": info.get("package_sha256", ""), "engine": info.get("engine", ""),
            "converged": bool(info.get("converged", False)), "n_warnings": len(warnings), "warnings": warnings,
            "output_folder": run_json.parent.as_posix()}


def build_manifest(outputs: str | Path) -> dict:
    """Every ``<outputs>/*/run.json`` as a manifest entry, by name; deterministic (no dates), so an unchanged set of
    runs gives the same bytes."""
    outputs = Path(outputs)
    if not outputs.is_dir():
        raise ConfigError(f"{outputs}: no such outputs folder. Fix: run an analysis first (nma run analyses/x.toml), "
                          "or pass the folder that holds the analysis folders")
    entries = [manifest_entry(p) for p in sorted(outputs.glob("*/run.json"))]
    return {"nma_version": __version__, "n_analyses": len(entries),
            "n_unconverged": sum(not e["converged"] for e in entries), "analyses": entries}


def write_manifest(outputs: str | Path) -> Path:
    """Write ``<outputs>/manifest.json`` atomically (a temporary file renamed over it) and return its path."""
    outputs = Path(outputs)
    text = json.dumps(build_manifest(outputs), indent=2, sort_keys=False) + "\n"
    path = outputs / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
