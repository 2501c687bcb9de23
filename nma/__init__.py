"""nma: Bayesian network meta-analysis of published trial results for health-technology assessment.

Data flows one way: evidence -> contrasts -> network -> model -> fit -> summaries -> reports.
"""

import os
from importlib.metadata import PackageNotFoundError, version

# One BLAS thread per process: PyMC runs one chain per core, and threaded BLAS on top of that
# oversubscribes the cores (measured on 2 cores: 72 s instead of 2 s for the same 2-chain fit).
# setdefault, so a user's own setting wins; child processes inherit it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    __version__ = version("nma")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

import warnings as _warnings

# PyTensor warns at import when pip-installed without a linkable BLAS. It falls back to NumPy's BLAS through
# the C-API; for the small matrices of an NMA the cost is measured in benchmarks/README.md. Not a user issue.
_warnings.filterwarnings("ignore", message="Using NumPy C-API based implementation for BLAS functions")
_warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
# ArviZ 0.23 announces its 1.x refactor once per day per machine (a stamp in the user's cache), so the first
# import on a fresh machine, as in CI, warns and later ones do not. We pin 0.23; the notice is not about our use.
_warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")

from nma.errors import (
    ConfigError,
    ConvergenceError,
    EvidenceError,
    ModelSpecError,
    NetworkDataError,
    NMAError,
)

__all__ = ["__version__", "NMAError", "EvidenceError", "NetworkDataError", "ConfigError", "ModelSpecError", "ConvergenceError"]
