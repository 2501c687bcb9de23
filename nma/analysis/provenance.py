"""What makes a run reproducible: hashes of the config, the inputs and nma's source, the dependency lock, and
`nma verify`, which recomputes them."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from nma.constants import __version__
from nma.errors import NMAError

DEPENDENCIES = ("pymc", "pytensor", "arviz", "numpy", "scipy", "pandas", "xarray", "h5netcdf", "networkx")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dependency_versions() -> dict[str, str]:
    out = {}
    for name in DEPENDENCIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            out[name] = "not installed"
    return out


def dependency_lock() -> dict[str, str]:
    """Every installed distribution and its version: what `pip install` must reproduce to rerun."""
    from importlib.metadata import distributions

    return dict(sorted({d.metadata["Name"].lower(): d.version for d in distributions() if d.metadata["Name"]}.items()))


def package_hash() -> str:
    """SHA-256 of nma's own source and templates: the version number does not change with every edit."""
    root = Path(__file__).parents[1]
    files = sorted([*root.rglob("*.py"), *root.glob("reporting/templates/*")])
    return hashlib.sha256(b"".join(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() for f in files)).hexdigest()


def combined_hash(hashes: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{Path(k).name}:{v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()


def verify_outputs(outdir: str | Path) -> tuple[bool, str]:
    """Recompute the hashes run.json recorded and say which of data, config and package changed, if any."""
    outdir = Path(outdir)
    info_path = outdir / "run.json"
    if not info_path.is_file():
        raise NMAError(f"{outdir}: no run.json; is this an nma output folder? Fix: give the folder `nma run` wrote, "
                       "e.g. outputs/<analysis>")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    changed = []
    cfg_path = Path(info["config_path"])
    if not cfg_path.is_file() or sha256(cfg_path) != info["config_sha256"]:
        changed.append(f"config changed: {cfg_path}" + ("" if cfg_path.is_file() else " (missing)"))
    for path, digest in info["inputs"].items():
        if not Path(path).is_file() or sha256(Path(path)) != digest:
            changed.append(f"data changed: {path}" + ("" if Path(path).is_file() else " (missing)"))
    changed += [f"package changed: {line}" for line in _package_changes(info)]
    if changed:
        return False, "outputs are NOT current:\n  " + "\n  ".join(changed)
    return True, f"outputs are current: config, data ({len(info['inputs'])} files) and package {__version__} all match"


def _package_changes(info: dict) -> list[str]:
    """How the installed nma and its dependencies differ from those that wrote the outputs."""
    out = []
    if info["nma_version"] != __version__:
        out.append(f"outputs from nma {info['nma_version']}, installed {__version__}")
    if "package_sha256" in info and info["package_sha256"] != package_hash():
        out.append("the nma source differs from the one that wrote the outputs")
    lock, now = info.get("lock", {}), dependency_lock()
    diffs = [f"{name} {lock.get(name, 'absent')} -> {now.get(name, 'absent')}"
             for name in sorted(set(lock) | set(now)) if name != "nma" and lock.get(name) != now.get(name)] if lock else []
    if diffs:
        out.append(f"{len(diffs)} dependencies differ: " + ", ".join(diffs[:8]) + (", ..." if len(diffs) > 8 else ""))
    return out
