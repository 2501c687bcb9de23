"""Network meta-regression (NICE DSU TSD3) and class effects on the contrast-level normal model, with their exact engine.

Every variant is linear in its location parameters: the fitted contrast of study s, arm t versus baseline b is
``d_t - d_b + sum_j (beta_jt - beta_jb) x_sj`` (x centred), with d and beta tied by the coefficient or class
structure. Writing the model's parameters theta (d, beta, class means, coefficient means) as
``theta = (A0 + (sigma / s) A1) phi`` with every free parameter phi ~ N(0, s^2) (s = ``spec.d_prior_sd``) puts
them all in the form the exact engine integrates (``nma.models.exact``): given tau and sigma, phi | y is normal.

- shared / unrelated coefficients, common / independent class effects: A1 = 0, the posterior is `fit_exact` on the
  design ``X_theta A0`` (the 1-D tau grid of the exact engine, reused as it is);
- exchangeable coefficients or exchangeable class effects: one more SD, sigma (the coefficients' or the class SD),
  whose deviations enter scaled by sigma / s, so that the deviation e = (sigma / s) e', e' ~ N(0, s^2), is
  N(0, sigma^2) as the model says; (tau, sigma) is integrated on a 2-D grid in the priors' probability scale, each
  row of the grid one call of the exact engine's conditional (`_conditional`) with its design.

The reference treatment has d = 0 and beta = 0. Its class mean is 0: other members of the reference's class are 0
(common) or drawn around 0 with the class SD (exchangeable). A class with one treatment has no within-class
deviation (its treatment's effect is its class mean). Covariates are study-level (aggregate) values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from nma.constants import CI_PROB
from nma.core.network import Network
from nma.errors import ModelSpecError, ModelWarning, NetworkDataError
from nma.models.exact import COARSE, LOG_DROP, MIN_WEIGHT, ExactPosterior, _conditional, fit_exact
from nma.models.normal import model_fit
from nma.models.priors import TauPrior, parse_tau_prior
from nma.models.spec import DEFAULT_D_PRIOR_SD, DEFAULT_TAU_PRIOR, ModelSpec
from nma.posterior.summaries import probs_for, ranks

COEFFICIENTS = ("shared", "exchangeable", "unrelated")
CLASS_EFFECTS = ("common", "exchangeable", "independent")
#: Half-normal(0.5) on the class SD and on the SD of exchangeable coefficients, as the default tau prior: on the
#: log-HR scale treatments of one class rarely differ by more than e^1 ~ 2.7-fold. Stated in every description.
DEFAULT_SD_PRIOR = "half-normal(0.5)"
#: Fine grid of the 2-D quadrature: nodes per axis (tau, sigma) over the box where the coarse pass found mass.
FINE_2D = 160
#: Exact draws behind DIC and rankings (the mixture is sampled exactly; pD's Monte Carlo SD is about sqrt(2 pD / n)).
N_DRAWS = 8000


# ---- specifications ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Regression:
    """A study-level covariate interacting with treatment (NICE DSU TSD3).

    Parameters
    ----------
    covariate : str
        Name of the covariate (a column of the characteristics, e.g. ``"prior_trastuzumab_percent"``).
    centre : float, optional
        Continuous covariate: x is centred at this value, so d is the effect at x = centre. Default: the mean of
        the studies' values (recorded in the fit). Ignored for a categorical covariate.
    coefficients : {"shared", "exchangeable", "unrelated"}
        One beta for every treatment versus the reference; betas drawn around a common mean with their own SD
        (prior `sd_prior`); or a separate beta per treatment.
    by_class : bool
        Coefficients shared (or exchangeable around a mean) within each class of `Classes` instead of network-wide.
    sd_prior : str
        Prior of the SD of exchangeable coefficients, on the model scale per unit of x.
    reference_level : str, optional
        Categorical covariate: the level whose studies have x = 0 (default: the first level by name).
    """

    covariate: str
    centre: float | None = None
    coefficients: str = "shared"
    by_class: bool = False
    sd_prior: str = DEFAULT_SD_PRIOR
    reference_level: str | None = None

    def __post_init__(self):
        if self.coefficients not in COEFFICIENTS:
            raise ModelSpecError(f"coefficients={self.coefficients!r} is not one of {', '.join(COEFFICIENTS)}. Fix: "
                                 "pass coefficients=\"shared\" (one beta for all treatments), \"exchangeable\" or "
                                 "\"unrelated\"")
        if not isinstance(self.covariate, str) or not self.covariate:
            raise ModelSpecError(f"covariate={self.covariate!r} must be a non-empty name. Fix: name the covariate, "
                                 "e.g. covariate=\"prior_trastuzumab_percent\"")
        if self.centre is not None and not (isinstance(self.centre, (int, float)) and math.isfinite(self.centre)):
            raise ModelSpecError(f"centre={self.centre!r} must be a finite number. Fix: e.g. centre=50, or leave it "
                                 "out to centre at the studies' mean")
        parse_tau_prior(self.sd_prior, key="sd_prior")

    @property
    def prior(self) -> TauPrior:
        return parse_tau_prior(self.sd_prior, key="sd_prior")


@dataclass(frozen=True)
class Classes:
    """Treatments grouped into classes (e.g. by mechanism: antibody, TKI, ADC).

    Parameters
    ----------
    mapping : Mapping[str, str]
        Treatment id -> class name, for every treatment of the network.
    effects : {"common", "exchangeable", "independent"}
        One effect per class; treatment effects drawn around a class mean with a class SD (prior `sd_prior`);
        or unrelated treatment effects (the classes only group the output).
    sd_prior : str
        Prior of the class SD (model scale), the same for every class.
    """

    mapping: Mapping[str, str]
    effects: str = "exchangeable"
    sd_prior: str = DEFAULT_SD_PRIOR

    def __post_init__(self):
        if self.effects not in CLASS_EFFECTS:
            raise ModelSpecError(f"effects={self.effects!r} is not one of {', '.join(CLASS_EFFECTS)}. Fix: pass "
                                 "effects=\"common\", \"exchangeable\" or \"independent\"")
        if not isinstance(self.mapping, Mapping):
            raise ModelSpecError(f"mapping={self.mapping!r} must map each treatment to its class. Fix: pass a dict, "
                                 "e.g. {\"ptd\": \"antibody\", \"tdxd\": \"adc\"}")
        object.__setattr__(self, "mapping", MappingProxyType({str(k): str(v) for k, v in self.mapping.items()}))
        parse_tau_prior(self.sd_prior, key="sd_prior")

    @property
    def prior(self) -> TauPrior:
        return parse_tau_prior(self.sd_prior, key="sd_prior")


def classes_from_table(treatments: pd.DataFrame, column: str = "mechanism", **kwargs) -> Classes:
    """`Classes` from a treatments table (``data/treatments.csv``: columns id and `column`)."""
    for col in ("id", column):
        if col not in treatments.columns:
            raise ModelSpecError(f"the treatments table has no column {col!r} (columns: {', '.join(treatments.columns)})"
                                 f". Fix: pass column= one of them")
    return Classes(dict(zip(treatments["id"].astype(str), treatments[column].astype(str))), **kwargs)


# ---- the linear structure ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LinearModel:
    """theta = (A0 + (sigma / s) A1) phi; fitted contrasts X theta. theta = d, betas, class means, coefficient means.

    `kinds` says what each theta is ("d", "beta", "class_mean", "beta_mean"); `labels` its treatment, class or
    group; `columns` the covariate column of betas ("" otherwise).
    """

    X: np.ndarray                   # (contrasts, n_theta)
    A0: np.ndarray                  # (n_theta, n_phi)
    A1: np.ndarray                  # (n_theta, n_phi)
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    x: np.ndarray                   # (studies, J) centred covariate columns
    covariate_columns: tuple[str, ...]
    centre: float | None
    sigma_prior: TauPrior | None    # prior of the one extra SD, or None
    sigma_name: str                 # "class_sd" or "beta_sd" (or "")
    classes: tuple[str, ...]        # class of each treatment (empty without classes)

    def design_at(self, sigma: float, s: float) -> np.ndarray:
        return self.X @ (self.A0 + (sigma / s) * self.A1)

    def index(self, kind: str) -> np.ndarray:
        return np.array([i for i, k in enumerate(self.kinds) if k == kind], int)


def covariate_matrix(studies: tuple[str, ...], regression: Regression,
                     values: Mapping[str, object]) -> tuple[np.ndarray, tuple[str, ...], float | None]:
    """Per study (in `studies` order) the covariate columns: one centred continuous column, or one indicator per
    non-reference level; and the centre (None for a categorical covariate)."""
    if not isinstance(values, Mapping):
        raise ModelSpecError(f"values={type(values).__name__}: the covariate values must map each study to its value. "
                             f"Fix: pass a dict study -> {regression.covariate}")
    missing = [s for s in studies if s not in values or values[s] is None
               or (isinstance(values[s], float) and math.isnan(values[s]))]
    if missing:
        raise NetworkDataError(f"covariate {regression.covariate!r} has no value for {len(missing)} trial(s): "
                               f"{', '.join(map(str, missing))}. Trials are never dropped silently. Fix: give a value "
                               f"for each in values= (or the characteristics), or remove those trials from the network")
    raw = [values[s] for s in studies]
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in raw)
    if numeric:
        v = np.asarray(raw, float)
        centre = float(v.mean()) if regression.centre is None else float(regression.centre)
        return (v - centre)[:, None], (regression.covariate,), centre
    levels = sorted({str(r) for r in raw})
    ref = regression.reference_level if regression.reference_level is not None else levels[0]
    if ref not in levels:
        raise ModelSpecError(f"reference_level={ref!r} is not a level of {regression.covariate!r} ({', '.join(levels)})"
                             ". Fix: pass one of them")
    others = [lv for lv in levels if lv != ref]
    if not others:
        raise NetworkDataError(f"covariate {regression.covariate!r} takes one value ({ref!r}) in every trial, so it "
                               "cannot explain anything. Fix: choose a covariate that varies between trials")
    x = np.array([[1.0 if str(r) == lv else 0.0 for lv in others] for r in raw])
    return x, tuple(f"{regression.covariate}={lv}" for lv in others), None


def build_linear_model(network: Network, regression: Regression | None = None, classes: Classes | None = None,
                       values: Mapping[str, object] | None = None) -> LinearModel:
    """The parameters, their structure and the design of a meta-regression and/or class-effects model.

    `network` is a contrast `Network` or an arm-level `ArmNetwork` (its arm-level studies: the design's rows are
    its delta parameters), through its `structure`."""
    st = network.structure
    T = len(network.treatments)
    nonref = list(network.treatments[1:])
    D = st.design                                          # (contrasts, T-1)
    if classes is not None:
        absent = [t for t in network.treatments if t not in classes.mapping]
        if absent:
            raise ModelSpecError(f"classes: no class for treatment(s) {', '.join(absent)}. Fix: add them to "
                                 "Classes(mapping=...) (or the treatments table's class column)")
        cls_of = [classes.mapping[t] for t in network.treatments]
    else:
        cls_of = []
    if regression is not None and regression.by_class and classes is None:
        raise ModelSpecError("Regression(by_class=True) needs classes. Fix: pass classes=Classes(...), or "
                             "by_class=False")
    exch_classes = classes is not None and classes.effects == "exchangeable"
    exch_beta = regression is not None and regression.coefficients == "exchangeable"
    names, kinds, labels, columns = [], [], [], []
    cols0, cols1 = [], []            # per phi: (dict theta index -> coefficient) for A0 and A1
    phi_names = []

    def new_phi(name):
        phi_names.append(name)
        cols0.append({})
        cols1.append({})
        return len(phi_names) - 1

    def theta(name, kind, label, column=""):
        names.append(name), kinds.append(kind), labels.append(label), columns.append(column)
        return len(names) - 1

    # ---- d ----
    d_idx = [theta(f"d[{t}]", "d", t) for t in nonref]
    if classes is None or classes.effects == "independent":
        for i in d_idx:
            cols0[new_phi(names[i])][i] = 1.0
    else:
        ref_class = cls_of[0]
        order = list(dict.fromkeys(cls_of))
        size = {c: cls_of.count(c) for c in order}
        for c in order:
            members = [k for k in range(1, T) if cls_of[k] == c]
            if c != ref_class:
                m = theta(f"class_mean[{c}]", "class_mean", c)
                p = new_phi(names[m])
                cols0[p][m] = 1.0
                for k in members:
                    cols0[p][d_idx[k - 1]] = 1.0
            if classes.effects == "exchangeable" and size[c] > 1:
                for k in members:
                    cols1[new_phi(f"e[{network.treatments[k]}]")][d_idx[k - 1]] = 1.0
    # ---- beta ----
    x, cov_cols, centre = (np.zeros((len(st.studies), 0)), (), None)
    if regression is not None:
        if values is None:
            raise ModelSpecError(f"regression on {regression.covariate!r} needs the covariate's values. Fix: pass "
                                 "values={study: value, ...}")
        x, cov_cols, centre = covariate_matrix(st.studies, regression, values)
        if exch_beta and len(cov_cols) > 1:
            raise ModelSpecError(f"coefficients=\"exchangeable\" with a {len(cov_cols) + 1}-level covariate needs one SD "
                                 "per level: the exact engine integrates one SD besides tau. Fix: use a binary or "
                                 "continuous covariate, or coefficients=\"shared\"/\"unrelated\"")
        groups = cls_of[1:] if regression.by_class else ["all"] * (T - 1)
        for col in cov_cols:
            b_idx = [theta(f"beta[{col}][{t}]", "beta", t, col) for t in nonref]
            if regression.coefficients == "unrelated":
                for i in b_idx:
                    cols0[new_phi(names[i])][i] = 1.0
                continue
            for g in dict.fromkeys(groups):
                members = [k for k in range(T - 1) if groups[k] == g]
                m = theta(f"B[{col}]" + (f"[{g}]" if regression.by_class else ""), "beta_mean", g, col)
                p = new_phi(names[m])
                cols0[p][m] = 1.0
                for k in members:
                    cols0[p][b_idx[k]] = 1.0
                if exch_beta and len(members) > 1:
                    for k in members:
                        cols1[new_phi(f"e[{col}][{nonref[k]}]")][b_idx[k]] = 1.0
    if exch_classes and exch_beta:
        raise ModelSpecError("exchangeable class effects together with exchangeable coefficients add two SDs: the "
                             "exact engine integrates one besides tau. Fix: use coefficients=\"shared\" with "
                             "exchangeable classes, or fit it with PyMC (nma.models.regression_pymc)")
    n_theta, n_phi = len(names), len(phi_names)
    A0, A1 = np.zeros((n_theta, n_phi)), np.zeros((n_theta, n_phi))
    for j in range(n_phi):
        for i, v in cols0[j].items():
            A0[i, j] = v
        for i, v in cols1[j].items():
            A1[i, j] = v
    X = np.zeros((len(D), n_theta))
    X[:, d_idx] = D
    row_study = st.contrasts["study"].map({s: i for i, s in enumerate(st.studies)}).to_numpy(int)
    for j, col in enumerate(cov_cols):
        b = [i for i, c in enumerate(columns) if c == col and kinds[i] == "beta"]
        X[:, b] = D * x[row_study, j][:, None]
    sigma_prior = classes.prior if exch_classes else (regression.prior if exch_beta else None)
    sigma_name = "class_sd" if exch_classes else ("beta_sd" if exch_beta else "")
    if sigma_prior is not None and not A1.any():
        sigma_prior, sigma_name = None, ""     # no class (or group) with two members: nothing is exchangeable
    return LinearModel(X, A0, A1, tuple(names), tuple(kinds), tuple(labels), tuple(columns), x, cov_cols, centre,
                       sigma_prior, sigma_name, tuple(cls_of))


# ---- the exact engine ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RegressionPosterior:
    """Exact posterior of a meta-regression / class-effects model: a Gaussian mixture over (tau, sigma) nodes.

    `theta` is the mixture of the named parameters (d, beta, class means, coefficient means), `phi` of the free
    parameters (what is sampled), `sigma` the extra SD at each node (0 when there is none).
    """

    network: Network
    spec: ModelSpec
    model: LinearModel
    theta: ExactPosterior
    phi: ExactPosterior
    sigma: np.ndarray

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.model.names

    def draws(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact draws of theta (n, n_theta), tau (n,) and sigma (n,)."""
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(self.phi.weight), size=n, p=self.phi.weight)
        chol = np.linalg.cholesky(self.phi.cov)
        z = rng.standard_normal((n, self.phi.mean.shape[1]))
        phi = self.phi.mean[idx] + np.einsum("nij,nj->ni", chol[idx], z)
        s = self.spec.d_prior_sd
        A = self.model.A0[None] + (self.sigma[idx] / s)[:, None, None] * self.model.A1[None]
        return np.einsum("nij,nj->ni", A, phi), self.phi.tau[idx], self.sigma[idx]


def _theta_mixture(model: LinearModel, phi: ExactPosterior, sigma: np.ndarray, s: float) -> ExactPosterior:
    A = model.A0[None] + (sigma / s)[:, None, None] * model.A1[None]           # (G, n_theta, n_phi)
    mean = np.einsum("gij,gj->gi", A, phi.mean)
    cov = A @ phi.cov @ np.swapaxes(A, 1, 2)
    return ExactPosterior(phi.treatments, phi.tau, phi.weight, mean, cov, None, phi.log_marginal)


def _grid(prior: TauPrior, n: int, lo: float = 0.0, hi: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in the prior's probability scale u and their trapezoid widths (the prior is uniform in u)."""
    top = 1.0 if np.isfinite(prior.upper) else 1.0 - 1e-9
    hi = top if hi is None else min(hi, top)
    u = np.linspace(lo, hi, n)
    w = np.full(n, u[1] - u[0])
    w[[0, -1]] *= 0.5
    return u, w


def _fit_2d(network: Network, spec: ModelSpec, model: LinearModel) -> tuple[ExactPosterior, np.ndarray]:
    """(tau, sigma) on a coarse then a fine grid in the priors' probability scales; phi | tau, sigma exact."""
    s = spec.d_prior_sd
    sp = model.sigma_prior
    random = spec.effects == "random"
    tp = spec.tau_prior

    def loglik(u_tau, u_sig):
        tau = tp.ppf(u_tau) if random else np.zeros(1)
        out = []
        for sig in sp.ppf(u_sig):
            out.append(_conditional(network, spec, tau, model.design_at(float(sig), s)))
        return tau, out

    mid = lambda top: (np.arange(COARSE // 2) + 0.5) / (COARSE // 2) * top   # noqa: E731
    t_top = 1.0 if np.isfinite(tp.upper) else 1.0 - 1e-9
    s_top = 1.0 if np.isfinite(sp.upper) else 1.0 - 1e-9
    u_t, u_s = (mid(t_top) if random else np.zeros(1)), mid(s_top)
    _, coarse = loglik(u_t, u_s)
    ll = np.array([c[2] for c in coarse])                                       # (sigma, tau)
    keep = ll > ll.max() - LOG_DROP
    step_t, step_s = t_top / (COARSE // 2), s_top / (COARSE // 2)
    ks, kt = np.nonzero(keep)
    us_f, ws = _grid(sp, FINE_2D, max(u_s[ks.min()] - step_s, 0.0), u_s[ks.max()] + step_s)
    if random:
        ut_f, wt = _grid(tp, FINE_2D, max(u_t[kt.min()] - step_t, 0.0), u_t[kt.max()] + step_t)
    else:
        ut_f, wt = np.zeros(1), np.ones(1)
    tau, fine = loglik(ut_f, us_f)
    sig = sp.ppf(us_f)
    mean = np.concatenate([f[0] for f in fine])                                 # (sigma x tau, n_phi)
    cov = np.concatenate([f[1] for f in fine])
    logw = np.concatenate([f[2] + np.log(wt) + np.log(w) for f, w in zip(fine, ws)])
    tau_n = np.tile(tau, len(sig))
    sig_n = np.repeat(sig, len(tau))
    top = logw.max()
    w = np.exp(logw - top)
    total = w.sum()
    k = w >= MIN_WEIGHT * total
    phi = ExactPosterior(network.treatments, tau_n[k], w[k] / w[k].sum(), mean[k], cov[k], None,
                         float(top + np.log(total)))
    return phi, sig_n[k]


def fit_regression_exact(network: Network, spec: ModelSpec, regression: Regression | None = None,
                         classes: Classes | None = None, values: Mapping[str, object] | None = None) -> RegressionPosterior:
    """The exact posterior of a network meta-regression and/or class-effects model (normal contrast likelihood).

    Parameters
    ----------
    network : Network
        Contrast-level network.
    spec : ModelSpec
        Fixed or random effects, the d prior (also the prior of every beta, class mean and coefficient mean,
        N(0, d_prior_sd^2)) and the tau prior.
    regression : Regression, optional
        The covariate and its coefficient structure; needs `values`.
    classes : Classes, optional
        The treatment classes and their effects structure.
    values : Mapping[str, float or str], optional
        Study -> covariate value (numbers: continuous; strings: categorical). A study without one is an error.

    Returns
    -------
    RegressionPosterior

    Raises
    ------
    NetworkDataError
        A trial has no covariate value (every such trial is named).
    ModelSpecError
        A treatment has no class, or the model has two exchangeable SDs besides tau.
    """
    if not isinstance(network, Network):
        raise ModelSpecError(f"network={type(network).__name__}: the exact engine fits contrast-level networks. Fix: "
                             "pass a Network, or use nma.models.regression_pymc for arm-level binomial data")
    model = build_linear_model(network, regression, classes, values)
    s = spec.d_prior_sd
    if model.sigma_prior is None:
        phi = fit_exact(network, spec, design=model.design_at(0.0, s))
        sigma = np.zeros(len(phi.weight))
    else:
        phi, sigma = _fit_2d(network, spec, model)
    return RegressionPosterior(network, spec, model, _theta_mixture(model, phi, sigma, s), phi, sigma)


# ---- summaries: numbers out ----------------------------------------------------------------------------------------
def _summaries(mix: ExactPosterior, C: np.ndarray, probs) -> dict:
    m, sd = mix.combination(C)
    return mix.summarise(C, probs, pieces=(m, np.maximum(sd, 1e-12)))   # a combination fixed by the model has sd 0


def _rows(post: RegressionPosterior, idx: np.ndarray, probs) -> pd.DataFrame:
    C = np.eye(len(post.parameters))[idx]
    s = _summaries(post.theta, C, probs)
    return pd.DataFrame({"parameter": [post.parameters[i] for i in idx], "mean": s["mean"], "sd": s["sd"],
                         "lower": s[probs[0]], "median": s[probs[1]], "upper": s[probs[2]]})


def coefficients(post: RegressionPosterior, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Interaction coefficients: beta per treatment (versus the reference) and their shared / mean coefficient.

    Returns
    -------
    pandas.DataFrame
        parameter, kind ("beta": a treatment's, "beta_mean": the shared or mean coefficient), covariate (column),
        label (treatment, or class / "all"), mean, sd, lower, median, upper: model scale (e.g. log-HR) per unit of
        the covariate (per category versus the reference level).
    """
    probs = probs_for(ci_prob)
    m = post.model
    idx = np.array([i for i, k in enumerate(m.kinds) if k in ("beta", "beta_mean")], int)
    out = _rows(post, idx, probs)
    out.insert(1, "kind", [m.kinds[i] for i in idx])
    out.insert(2, "covariate", [m.columns[i] for i in idx])
    out.insert(3, "label", [m.labels[i] for i in idx])
    return out


def effects_at(post: RegressionPosterior, at, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Every treatment versus every other at chosen covariate values (continuous: raw, uncentred values).

    A categorical covariate takes its level names. Returns columns covariate_value, treatment, comparator, mean,
    sd, lower, median, upper (model scale).
    """
    probs = probs_for(ci_prob)
    m, net = post.model, post.network
    T = len(net.treatments)
    rows = []
    span = covariate_range(post)
    outside = [v for v in at if span is not None and not span[0] <= float(v) <= span[1]]
    if outside:
        warnings.warn(f"effects at {', '.join(map(str, outside))}: outside the trials' observed range of "
                      f"{m.covariate_columns[0]} ({span[0]:g} to {span[1]:g}); these are extrapolations of a linear "
                      "interaction", ModelWarning, stacklevel=2)
    for value in at:
        if m.centre is not None:
            xcol = np.array([float(value) - m.centre])
        else:
            levels = [c.split("=", 1)[1] for c in m.covariate_columns]
            xcol = np.array([1.0 if str(value) == lv else 0.0 for lv in levels])
        # effect of treatment k vs reference at x: d_k + sum_j beta_jk x_j, as rows over theta
        E = np.zeros((T, len(m.names)))
        for k in range(1, T):
            E[k, m.names.index(f"d[{net.treatments[k]}]")] = 1.0
            for j, col in enumerate(m.covariate_columns):
                E[k, m.names.index(f"beta[{col}][{net.treatments[k]}]")] = xcol[j]
        pairs = [(i, j) for i in range(T) for j in range(T) if i != j]
        C = np.array([E[i] - E[j] for i, j in pairs])
        s = _summaries(post.theta, C, probs)
        rows.append(pd.DataFrame({"covariate_value": [value] * len(pairs),
                                  "treatment": [net.treatments[i] for i, _ in pairs],
                                  "comparator": [net.treatments[j] for _, j in pairs], "mean": s["mean"], "sd": s["sd"],
                                  "lower": s[probs[0]], "median": s[probs[1]], "upper": s[probs[2]]}))
    return pd.concat(rows, ignore_index=True)


def _marginal(values: np.ndarray, weight: np.ndarray, probs) -> dict:
    u, inv = np.unique(values, return_inverse=True)
    w = np.bincount(inv, weights=weight)
    one = ExactPosterior((), u, w, np.zeros((len(u), 1)), np.ones((len(u), 1, 1)))
    return one.tau_summary(probs)


def variance_parameters(post: RegressionPosterior, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """tau (random effects) and the class / coefficient SD when there is one.

    Returns columns parameter ("tau", "class_sd" or "beta_sd"), mean, sd, lower, median, upper.
    """
    probs = probs_for(ci_prob)
    rows = []
    for name, v, on in (("tau", post.phi.tau, post.spec.effects == "random"),
                        (post.model.sigma_name, post.sigma, post.model.sigma_prior is not None)):
        if on:
            s = _marginal(v, post.phi.weight, probs)
            rows.append({"parameter": name, "mean": s["mean"], "sd": s["sd"], "lower": s[probs[0]],
                         "median": s[probs[1]], "upper": s[probs[2]]})
    return pd.DataFrame(rows, columns=["parameter", "mean", "sd", "lower", "median", "upper"])


def class_effects(post: RegressionPosterior, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Class means and the treatment effects (shrunk toward them under exchangeable classes), versus the reference.

    Returns columns parameter, kind ("class_mean" or "d"), class, mean, sd, lower, median, upper (model scale).
    The reference's class has mean 0 and no row.
    """
    m = post.model
    if not m.classes:
        raise ModelSpecError("class_effects: this model has no classes. Fix: fit with classes=Classes(...)")
    probs = probs_for(ci_prob)
    idx = np.concatenate([m.index("class_mean"), m.index("d")])
    out = _rows(post, idx, probs)
    cls = dict(zip(post.network.treatments, m.classes))
    out.insert(1, "kind", [m.kinds[i] for i in idx])
    out.insert(2, "class", [m.labels[i] if m.kinds[i] == "class_mean" else cls[m.labels[i]] for i in idx])
    return out


def class_ranks(post: RegressionPosterior, n: int = N_DRAWS, seed: int = 1, ci_prob: float = CI_PROB) -> pd.DataFrame:
    """Rankings of the class means (the reference's class at 0), from exact draws; columns as `summaries.ranks`,
    with `treatment` holding the class."""
    m = post.model
    cm = m.index("class_mean")
    if not m.classes or not len(cm):
        raise ModelSpecError("class_ranks: the model has no class means (classes=None, or effects=\"independent\"). "
                             "Fix: fit with Classes(effects=\"common\") or \"exchangeable\"")
    theta, _, _ = post.draws(n, seed)
    draws = np.column_stack([np.zeros(n), theta[:, cm]])
    labels = (m.classes[0], *(m.labels[i] for i in cm))
    return ranks(draws, labels, post.spec.lower_is_better, ci_prob)


def dic(post: RegressionPosterior, n: int = N_DRAWS, seed: int = 1) -> dict:
    """TSD2 model fit of the model from exact draws: {"resdev", "n_datapoints", "pD", "DIC"} (normal.model_fit)."""
    theta, tau, _ = post.draws(n, seed)
    return model_fit(post.network, theta, tau if post.spec.effects == "random" else None, design=post.model.X)[1]


def compare_unadjusted(post: RegressionPosterior, n: int = N_DRAWS, seed: int = 1,
                       ci_prob: float = CI_PROB) -> pd.DataFrame:
    """The model beside the unadjusted one (no covariate, independent treatment effects), same network and spec.

    Returns
    -------
    pandas.DataFrame
        One row per model ("adjusted", "unadjusted"): resdev, n_datapoints, pD, DIC, and tau's mean, median,
        lower, upper (NaN under fixed effect): how much heterogeneity the covariate or classes explain.
    """
    probs = probs_for(ci_prob)
    base = fit_regression_exact(post.network, post.spec)
    rows = []
    for label, p in (("adjusted", post), ("unadjusted", base)):
        row = {"model": label, **dic(p, n, seed)}
        if post.spec.effects == "random":
            t = _marginal(p.phi.tau, p.phi.weight, probs)
            row.update(tau_mean=t["mean"], tau_median=t[probs[1]], tau_lower=t[probs[0]], tau_upper=t[probs[2]])
        else:
            row.update(tau_mean=np.nan, tau_median=np.nan, tau_lower=np.nan, tau_upper=np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def fit_regression(network: Network, regression: Regression | None = None, classes: Classes | None = None, *,
                   values: Mapping[str, object] | None = None, effects: str = "random",
                   tau_prior: str = DEFAULT_TAU_PRIOR, d_prior_sd: float = DEFAULT_D_PRIOR_SD,
                   lower_is_better: bool = True, spec: ModelSpec | None = None) -> RegressionPosterior:
    """Fit a network meta-regression and/or class-effects model on the exact engine (`nma.fit_regression`).

    Parameters are those of `nma.fit` (a ready `spec` replaces effects, tau_prior, d_prior_sd, lower_is_better)
    plus `regression`, `classes` and the covariate `values` (study -> value); see `fit_regression_exact`. Arm-level
    binomial data are fitted by PyMC: ``nma.models.regression_pymc.build_binomial_regression_model``.

    Returns
    -------
    RegressionPosterior
        Tables from `coefficients`, `effects_at`, `variance_parameters`, `class_effects`, `class_ranks`, `dic`,
        `compare_unadjusted`, `notes`.
    """
    if spec is None:
        spec = ModelSpec(effects=effects, d_prior_sd=d_prior_sd, tau_prior=parse_tau_prior(tau_prior, key="tau_prior"),
                         lower_is_better=lower_is_better, measure=network.measure.code)
    return fit_regression_exact(network, spec, regression, classes, values)


def notes(post: RegressionPosterior) -> list[str]:
    """The cautions multinma gives with a meta-regression: few studies per coefficient, aggregate covariate."""
    out = []
    m = post.model
    if m.covariate_columns:
        n_studies = len(post.network.studies)
        n_beta = len([k for k in m.kinds if k == "beta_mean"]) or len([k for k in m.kinds if k == "beta"])
        if n_studies < 10 * n_beta:
            out.append(f"{n_studies} trials inform {n_beta} interaction coefficient(s): fewer than 10 per coefficient, "
                       "so the regression is weakly identified and sensitive to single trials.")
        coef = coefficients(post)
        coef = coef[coef["kind"] == ("beta_mean" if (coef["kind"] == "beta_mean").any() else "beta")]
        flat = coef[coef["sd"] > 0.5 * post.spec.d_prior_sd]["parameter"].tolist()
        if flat:
            out.append(f"Not identified by the data: {', '.join(flat)} keep most of their prior SD "
                       f"({post.spec.d_prior_sd:g}); no trial or loop separates the interaction from the treatment "
                       "effect (e.g. the covariate varies only in comparisons made by one trial each, or between "
                       "two non-reference treatments, where a shared coefficient cancels).")
        out.append("The covariate is a trial-level aggregate: an association across trials may not hold for patients "
                   "within them (ecological bias); it is not a subgroup analysis.")
    return out


def covariate_range(post: RegressionPosterior) -> tuple[float, float] | None:
    """Observed range of a continuous covariate (raw values), for the extrapolation warning; None if categorical."""
    if post.model.centre is None:
        return None
    raw = post.model.x[:, 0] + post.model.centre
    return float(raw.min()), float(raw.max())


def describe(regression: Regression | None, classes: Classes | None) -> str:
    """The extension in words, priors stated (for the report's model description)."""
    lines = []
    if regression is not None:
        lines.append(f"Network meta-regression on {regression.covariate} (study-level), {regression.coefficients} "
                     f"interaction coefficients{' within each class' if regression.by_class else ''}; each "
                     "coefficient (or their mean) ~ normal with mean 0 and the SD of the d prior.")
        if regression.coefficients == "exchangeable":
            lines.append("SD of the coefficients: " + regression.prior.describe("model scale per unit of x")
                         .replace("tau (between-study SD, model scale per unit of x)", "sigma_beta"))
        lines.append("The covariate is an aggregate of each trial's patients: an association across trials need not "
                     "hold within them (ecological bias).")
    if classes is not None:
        lines.append(f"Class effects: {classes.effects} ({', '.join(sorted(set(classes.mapping.values())))}).")
        if classes.effects == "exchangeable":
            lines.append("Treatment effects ~ normal around their class mean with the class SD; "
                         + classes.prior.describe().replace("tau (between-study SD, log scale)", "class SD") + ".")
    return "\n".join(lines)


__all__ = ["Regression", "Classes", "classes_from_table", "fit_regression", "fit_regression_exact", "notes", "RegressionPosterior",
           "coefficients", "effects_at", "variance_parameters", "class_effects", "class_ranks", "dic",
           "compare_unadjusted", "covariate_range", "describe", "build_linear_model", "LinearModel"]
