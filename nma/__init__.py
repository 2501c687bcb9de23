"""nma: Bayesian network meta-analysis of published trial results for health-technology assessment.

The API in four calls, as multinma's::

    import nma
    net = nma.Network.from_ratios(df, measure="HR")        # or from_contrasts / ArmNetwork.from_arms / load_evidence
    fit = nma.fit(net, effects="random", engine="exact")   # exact posterior where it exists, else PyMC NUTS
    fit.relative_effects(); fit.ranks(); fit.league_table(); fit.checks()
    nma.plot_forest(fit)                                   # a matplotlib Figure

Data flows one way: evidence or a user's table -> network -> model family -> fit -> posterior -> summaries and
checks -> outputs. Importing nma changes no global state (threads, warning filters, matplotlib).
"""

from nma.analysis.fit import Fit, Note, fit
from nma.checks.threshold import threshold
from nma.constants import __version__
from nma.core.arms import ArmNetwork
from nma.core.measures import MEASURES, Measure
from nma.core.network import Network
from nma.errors import (
    ConfigError,
    ConvergenceError,
    EvidenceError,
    EvidenceWarning,
    ModelSpecError,
    ModelWarning,
    NetworkDataError,
    NMAError,
)
from nma.evidence.base import EvidenceBase, load_evidence
from nma.models.frequentist import FrequentistFit, frequentist
from nma.models.regression import Classes, Regression, fit_regression
from nma.models.regression import notes as regression_notes

__all__ = [
    "__version__", "Network", "ArmNetwork", "Measure", "MEASURES", "load_evidence", "EvidenceBase", "fit", "Fit",
    "Note", "plot_network", "plot_forest", "plot_ranks", "plot_league", "plot_tau", "plot_nodesplit", "plot_devdev",
    "plot_sensitivity", "save_figure", "NMAError", "EvidenceError", "NetworkDataError", "ConfigError",
    "ModelSpecError", "ConvergenceError", "EvidenceWarning", "ModelWarning",
    "Regression", "Classes", "fit_regression", "regression_notes", "threshold", "frequentist", "FrequentistFit",
]

#: The figures load matplotlib on first use (PEP 562), so `import nma` stays light for runs that draw nothing.
_PLOTS = ("plot_network", "plot_forest", "plot_ranks", "plot_league", "plot_tau", "plot_nodesplit", "plot_devdev",
          "plot_sensitivity", "save_figure")


def __getattr__(name: str):
    if name in _PLOTS:
        from nma.analysis import plotting

        return getattr(plotting, name)
    raise AttributeError(f"module 'nma' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PLOTS))
