"""nma: Bayesian network meta-analysis of published trial results for health-technology assessment.

Data flows one way: evidence -> contrasts -> network -> model -> fit -> summaries -> reports.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nma")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from nma.errors import (
    ConfigError,
    ConvergenceError,
    EvidenceError,
    ModelSpecError,
    NetworkDataError,
    NMAError,
)

__all__ = ["__version__", "NMAError", "EvidenceError", "NetworkDataError", "ConfigError", "ModelSpecError", "ConvergenceError"]
