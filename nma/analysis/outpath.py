"""Where `nma run` may write. An output folder is replaced wholesale, so a wrong `--out` must be refused
before anything is computed, never discovered after it deleted someone's folder.

The rule: the folder must lie inside the current directory or the config's project folder (the config's
folder, or its parent when the config sits in `analyses/`), and no existing part of the path below that
root may be a symlink. `--allow-outside` lifts both. Independently of the flag, an existing folder is
only ever replaced when it is empty or an nma output folder (it has a run.json).
"""

from __future__ import annotations

import os
from pathlib import Path

from nma.errors import OutputPathError


def project_root(config: Path) -> Path:
    """The folder a config belongs to: its parent, or the parent's parent for configs in `analyses/`."""
    folder = Path(os.path.abspath(config)).parent
    return folder.parent if folder.name == "analyses" else folder


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _symlink_below(path: Path, root: Path) -> Path | None:
    """The first component of path, below root, that is a symlink (None when there is none)."""
    for part in [*reversed(path.parents), path]:
        if _inside(part, root) and part != root and part.is_symlink():
            return part
    return None


def check_output_dir(out: str | Path, *, config: str | Path, cwd: Path | None = None,
                     allow_outside: bool = False) -> Path:
    """The output folder, made absolute, or OutputPathError saying why it is refused and how to allow it."""
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    path = Path(os.path.normpath(cwd / out))          # lexical: '..' removed, symlinks not followed
    roots = [cwd, project_root(Path(config))]
    label = f"--out {out}"
    if not allow_outside:
        root = next((r for r in roots if _inside(path, r)), None)
        if root is None:
            raise OutputPathError(f"{label}: the output folder {path} is outside the current directory ({cwd}) and the "
                                  f"config's project ({roots[1]}). Fix: write inside the project (the default is "
                                  "outputs/<config name>), or add --allow-outside to write there on purpose")
        link = _symlink_below(path, root)
        if link is not None:
            raise OutputPathError(f"{label}: the path goes through a symlink ({link} -> {os.readlink(link)}), so the "
                                  "outputs would land somewhere else than the path says. Fix: give the real folder, or "
                                  "add --allow-outside to follow the symlink on purpose")
    check_replaceable(path, label)
    return path


def check_replaceable(path: Path, label: str | None = None) -> None:
    """Refuse to replace a file, or a non-empty folder that is not an nma output folder (no run.json)."""
    label = label or str(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{label}: {path} exists and is not a folder. Fix: choose a folder name for the outputs")
    if path.is_dir() and any(path.iterdir()) and not (path / "run.json").is_file():
        raise OutputPathError(f"{label}: {path} exists and is not an nma output folder (no run.json); a run replaces "
                              "its output folder as a whole, so it would be deleted. Fix: choose a new or empty folder")
