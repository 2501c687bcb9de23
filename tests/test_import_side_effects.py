"""Importing nma changes nothing in its host process: not the environment (BLAS thread variables), not the warning
filters, not matplotlib's backend or rcParams. Those belong to the `nma` command (nma.app.cli.configure_process).

Each check runs in a fresh interpreter, so what earlier tests imported cannot hide a side effect.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SNAPSHOT = '''
import importlib, json, os, pkgutil, sys, warnings
import matplotlib

def snapshot():
    return {"backend": matplotlib.get_backend().lower(), "rcParams": {k: repr(v) for k, v in matplotlib.rcParams.items()},
            "environ": dict(os.environ), "warnings.filters": [repr(f) for f in warnings.filters]}

def changes(before, after):
    out = {}
    for key in before:
        b, a = before[key], after[key]
        if key == "backend" and a != b:
            out[key] = [b, a]
        elif key == "warnings.filters" and a != b:
            out[key] = [f for f in a if f not in b] or ["order changed"]
        elif isinstance(b, dict) and a != b:
            out[key] = sorted({k for k in set(a) | set(b) if a.get(k) != b.get(k)})
    return out

def check(names):
    """Import each module in turn; report what any of them changed."""
    found = {}
    before = snapshot()
    for name in names:
        importlib.import_module(name)
        after = snapshot()
        if changes(before, after):
            found[name] = changes(before, after)
        before = after
    return found
'''


def run(code: str) -> dict:
    """Run `code` (after SNAPSHOT) in a fresh interpreter from the repo root; it prints one JSON object."""
    proc = subprocess.run([sys.executable, "-c", SNAPSHOT + textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def third_party_imports() -> list[str]:
    """Every non-stdlib, non-nma module any nma module imports (at module level or inside a function); for
    `from x import y`, both x and x.y (y may be a submodule)."""
    names = set()
    for path in (ROOT / "nma").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return sorted(n for n in names if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != "nma")


def check_nma_modules(names: str) -> dict:
    """Import the third-party libraries first, because some of them (SciPy, PyTensor, PyMC) add warning filters
    or environment variables of their own at import: the check is on what nma's own code does. Then import the
    nma modules `names` (Python source evaluating to a list) one by one and report what any of them changed."""
    return run(f'''
        for dep in {third_party_imports()!r}:
            try:
                importlib.import_module(dep)
            except ImportError:
                pass   # an optional dependency not installed here, or `from x import y` where y is not a module
        import nma
        print(json.dumps(check({names})))
    ''')


def test_third_party_imports_are_found():
    deps = {d.split(".")[0] for d in third_party_imports()}
    assert {"arviz", "matplotlib", "numpy", "pandas", "pymc", "pytensor", "scipy"} <= deps


def test_import_nma_and_plots_change_nothing():
    assert check_nma_modules('["nma", "nma.reporting.plots"]') == {}


def test_no_nma_module_changes_the_process_at_import():
    """Every module of the package, found by walking it with pkgutil."""
    names = '["nma"] + sorted(m.name for m in pkgutil.walk_packages(nma.__path__, "nma."))'
    assert run(f"import nma\nprint(json.dumps(len({names})))") > 30
    assert check_nma_modules(names) == {}


def test_the_cli_sets_threads_filters_and_backend():
    """What nma no longer does at import, the command does before it runs (user settings win for the variables)."""
    found = run('''
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.pop(var, None)
        os.environ["MKL_NUM_THREADS"] = "3"
        matplotlib.use("svg")   # not Agg, so switching to Agg is seen even where Agg is the default (no display)
        from nma.app.cli import configure_process
        configure_process()
        print(json.dumps({"omp": os.environ["OMP_NUM_THREADS"], "openblas": os.environ["OPENBLAS_NUM_THREADS"],
                          "mkl": os.environ["MKL_NUM_THREADS"], "backend": matplotlib.get_backend().lower(),
                          "arviz_future": any(f[0] == "ignore" and f[2] is FutureWarning and f[3] is not None
                                              and f[3].pattern.startswith("arviz") for f in warnings.filters),
                          "blas": any(f[0] == "ignore" and f[1] is not None and "could not link to a BLAS" in f[1].pattern
                                      for f in warnings.filters)}))
    ''')
    assert found == {"omp": "1", "openblas": "1", "mkl": "3", "backend": "agg", "arviz_future": True, "blas": True}


def test_pytest_config_still_silences_the_third_party_notices():
    """nma no longer filters PyTensor's BLAS warning or ArviZ's FutureWarning; pyproject's filterwarnings must,
    since it turns every other warning into an error."""
    import tomllib

    filters = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert filters[0] == "error"
    assert "ignore:Using NumPy C-API based implementation for BLAS functions:UserWarning" in filters
    assert "ignore:PyTensor could not link to a BLAS installation:UserWarning" in filters
    assert "ignore::FutureWarning:arviz" in filters


def test_pytest_filters_drop_the_notices_at_run_time():
    """The notices as PyTensor and ArviZ 0.23 word them, raised from their modules, are ignored under this test
    run's filters (where any other warning is an error). Checked by hand too: with a fresh XDG_CACHE_HOME, ArviZ
    warns at import and the plotting tests still pass."""
    import warnings

    blas = ("PyTensor could not link to a BLAS installation. Operations that might benefit from BLAS will be "
            "severely degraded.")
    arviz = ("\nArviZ is undergoing a major refactor to improve flexibility and extensibility while maintaining a "
             "user-friendly interface.")
    notices = [(blas, UserWarning, "pytensor.link.c.cmodule"),
               ("Using NumPy C-API based implementation for BLAS functions.", UserWarning, "pytensor.tensor.blas_headers"),
               (arviz, FutureWarning, "arviz")]
    for message, category, module in notices:
        warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module)   # no raise
    import pytest

    with pytest.raises(FutureWarning):   # the same warning from elsewhere is still an error
        warnings.warn_explicit("something else", FutureWarning, "nma/x.py", 1, module="nma.x")


def test_the_cli_limits_an_already_loaded_blas_to_one_thread():
    """`import nma.app.cli` loads NumPy (through nma/__init__.py) before main() runs, so the variables alone would
    come too late for the command's own process: the loaded BLAS is limited too, unless the user chose a count."""
    def blas_threads(openblas: str | None) -> list[int]:
        return run(f"""
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.pop(v, None)
if {openblas!r} is not None:
    os.environ["OPENBLAS_NUM_THREADS"] = {openblas!r}
import numpy
from threadpoolctl import threadpool_info
from nma.app.cli import configure_process
configure_process()
print(json.dumps(sorted({{i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}})))
""")

    assert blas_threads(None) == [1]
    if (os.cpu_count() or 1) > 1:
        assert 2 in blas_threads("2")   # the user's choice reaches the BLAS that reads it (a second BLAS, e.g. SciPy's, may sit at 1)
