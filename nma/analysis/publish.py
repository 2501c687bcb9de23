"""Atomic publishing: outputs are written into a temporary sibling folder and swapped into place in one rename."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from nma.errors import warnings_text


def write_netcdf(groups: dict, path: Path) -> None:
    """Each xarray Dataset of `groups` as a NetCDF group of `path`, as `InferenceData.to_netcdf(engine="h5netcdf")`
    writes them (the same groups, order and zlib compression), without importing ArviZ."""
    mode = "w"
    for name, data in groups.items():
        encoding = {var: {"zlib": True} for var, values in data.variables.items() if values.dtype.kind in "biufcS"}
        data.to_netcdf(str(path), mode=mode, group=f"//{name}", engine="h5netcdf", encoding=encoding)
        mode = "a"


def write_outputs(outdir: Path, tables: dict[str, pd.DataFrame], groups: dict, run_info: dict, notes: list[str],
                  extra=None) -> None:
    """Write everything into a temporary sibling folder, then swap it into place in one rename; `groups`: the
    posterior's xarray Datasets by group name (posterior.nc).

    Any failure or signal before the swap removes the temporary folder and leaves the previous outputs as they
    were; the swap itself (two renames) runs with SIGINT/SIGTERM held back, so it happens whole or not at all.
    """
    from nma.analysis.interrupt import check, deferred, pause
    from nma.analysis.outpath import check_replaceable

    outdir = Path(outdir)
    check_replaceable(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = outdir.parent / f".{outdir.name}.tmp-{os.getpid()}"
    old = outdir.parent / f".{outdir.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, table in tables.items():
            table.to_csv(tmp / name, index=False, lineterminator="\n")
        pause("write")
        write_netcdf(groups, tmp / "posterior.nc")
        (tmp / "warnings.txt").write_text(warnings_text(notes), encoding="utf-8")
        if extra is not None:
            extra(tmp)
        (tmp / "run.json").write_text(json.dumps(run_info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        with deferred():
            check()  # a signal PyMC swallowed, or one held back just now: do not publish
            if outdir.exists():
                outdir.rename(old)
            tmp.rename(outdir)
    except BaseException:
        with deferred():
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not outdir.exists():
                old.rename(outdir)
        raise
    shutil.rmtree(old, ignore_errors=True)
