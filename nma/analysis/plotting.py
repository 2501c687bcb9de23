"""The figures of a fit, for notebooks: each takes a Fit (or a network), returns a matplotlib Figure, accepts `ax=`.

Thin wrappers over nma/reporting/plots.py that pull the right table from the Fit; saving is separate
(`nma.save_figure(fig, path)` writes PNG and SVG), and nothing here changes matplotlib's global state.
"""

from __future__ import annotations

from nma.posterior.summaries import prob_better
from nma.reporting import league, plots


def _labels(fit_or_network, labels):
    network = getattr(fit_or_network, "network", fit_or_network)
    return {**dict(getattr(network, "labels", None) or {}), **dict(labels or {})}


def plot_network(network, *, labels: dict[str, str] | None = None, ax=None):
    """The treatment network: node area ~ patients randomised (when n is given), edge width ~ trials, trial names on edges."""
    network = getattr(network, "network", network)
    return plots.network_plot(network.contrasts, _labels(network, labels), None, ax=ax)


def plot_forest(fit, comparator: str | None = None, *, labels: dict[str, str] | None = None, ax=None):
    """Every treatment versus `comparator` (default: the network reference), median and 95% CrI (and the predictive
    interval under random effects); the fixed-effect result beside it when tau is not identified."""
    comparator = comparator or fit.network.reference
    rel = fit.relative_effects(comparator)
    fixed = fit.fixed.relative_effects() if fit.fixed is not None else None
    return plots.forest_plot(rel, comparator, fit.measure, fixed=fixed, labels=_labels(fit, labels), ax=ax)


def plot_ranks(fit, *, cumulative: bool = False, ax=None):
    """Rankogram: P(rank = k) per treatment, or P(rank <= k) with `cumulative=True` (SUCRA is its mean)."""
    return plots.rankogram(fit.ranks(), cumulative=cumulative, ax=ax)


def plot_league(fit, order: list[str] | None = None, *, ax=None):
    """Heatmap of every pairwise effect (row versus column, posterior median)."""
    rel = fit.relative_effects()
    p = prob_better(fit.posterior.all_treatment_draws(), fit.spec.lower_is_better)
    long = league.league_long(rel, p, fit.treatments, fit.measure)
    return plots.league_heatmap(long, list(order or fit.treatments), fit.measure, ax=ax)


def plot_tau(fit, *, ax=None):
    """Prior and posterior of tau (random effects only)."""
    if fit.posterior.flat_tau() is None:
        raise_fixed("plot_tau")
    return plots.tau_plot(fit.posterior.flat_tau(), fit.spec.tau_prior, fit.measure, ax=ax)


def plot_nodesplit(fit, *, labels: dict[str, str] | None = None, ax=None):
    """Direct, indirect and network estimates of every split comparison (runs the checks if needed)."""
    table = fit.checks().nodesplit
    if table is None:
        from nma.errors import NetworkDataError

        raise NetworkDataError("plot_nodesplit: no comparison of this network has both direct and independent indirect "
                               "evidence, so there is nothing to split")
    return plots.nodesplit_forest(table, fit.measure, labels=_labels(fit, labels), ax=ax)


def plot_devdev(fit, *, ax=None):
    """Each study's residual deviance under consistency against UME (points off the diagonal: inconsistency)."""
    return plots.devdev_plot(fit.checks().ume, ax=ax)


def plot_sensitivity(fit, *, labels: dict[str, str] | None = None, ax=None):
    """The effects versus the reference under every tau prior and fixed effect (random-effects fits)."""
    table = fit.checks().sensitivity
    if table is None:
        raise_fixed("plot_sensitivity")
    return plots.sensitivity_forest(table, fit.measure, labels=_labels(fit, labels), ax=ax)


def raise_fixed(name: str):
    from nma.errors import ModelSpecError

    raise ModelSpecError(f"{name}: a fixed-effect fit has no tau. Fix: fit with effects='random'")


save_figure = plots.save_figure
