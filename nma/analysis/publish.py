"""Atomic publishing: outputs are written into a temporary sibling folder and swapped into place in one rename."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from nma.errors import warnings_text


def write_outputs(outdir: Path, tables: dict[str, pd.DataFrame], idata, run_info: dict, notes: list[str],
                  extra=None) -> None:
    """Write everything into a temporary sibling folder, then swap it into place in one rename.

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
        idata.to_netcdf(str(tmp / "posterior.nc"), engine="h5netcdf")
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
