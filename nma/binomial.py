"""Arm-level binary evidence (responders r out of n per arm), alone or beside contrast-level studies.

The arm-based binomial model (NICE DSU TSD2 Program 1) keeps each study's arms as counts, so zero cells
need no continuity correction: the binomial likelihood handles them. Studies reported only as contrasts
(log odds ratios with SEs) join the same network on the same scale and share d and tau with the arm-level
studies (TSD2 Program 8, the shared-parameter model). This module holds the data structure and the pure
NumPy pieces (pointwise log-likelihood, residual deviance); the PyMC model is in `binomial_model.py`.

Arm table columns: ``study, treatment, r, n`` (plus provenance columns when built from ``data/``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from .contrasts import PROVENANCE, Selected, Selection, chosen_trials, trial_population_and_definition
from .errors import EvidenceError, NetworkDataError
from .evidence import Evidence
from .network import Network, comparisons_table, network_summary, ordered_treatments
from .nodes import apply_grouping, check_grouping
from .tables import ROW, Cell, parse_number, read_csv_strict

ARM_COLUMNS = ("study", "treatment", "r", "n")
#: What a binary outcome row needs to enter a network; a rate alone does not say how many patients it is out of.
COUNTS = ("responders and n per arm (a rate alone enters only with [data] responders_from_rates = true, and only "
          "when exactly one whole count of the arm's n gives it)")


def has_counts(rows: pd.DataFrame) -> pd.Series:
    return rows["responders"].notna() & rows["n"].notna()


def counts_matching(rate: float, decimals: int, n: int) -> np.ndarray:
    """Every whole k in 0..n whose 100 k / n rounds to the printed rate (to its printed decimals).

    One k: the rate is exactly k of n, and k is as good as typed. None: the rate's denominator is not n (an
    evaluable or per-protocol population, say). Several: the rate is printed too coarsely for n (51% of 152
    is 77 or 78). With one-decimal rates and n near 100, a wrong denominator still yields a single k for about
    one arm in ten, so a trial whose every arm matches is good evidence the denominators are right."""
    half = 0.5 * 10.0 ** -int(decimals)
    k = np.arange(int(n) + 1)
    return k[np.abs(100.0 * k / n - rate) <= half * (1 + 1e-9)]


def with_derived_counts(evidence: Evidence, selection: Selection) -> tuple[Evidence, dict[int, str]]:
    """Evidence whose rate-only rows of the selection's setting and outcome carry responders (and n) derived
    by `counts_matching`, plus one message per such row (keyed by its spreadsheet row), derived or not.

    n comes from the row itself, else from the randomised n of the same trial, analysis, population and arm
    in any other row (any source); sources that disagree on it leave the row underived."""
    rows = evidence.rows.copy()
    rows["responders_derivation"] = ""
    pool = rows[(rows["setting"] == selection.setting) & (rows["outcome"] == selection.outcome)
                & rows["responders"].isna() & rows["rate_percent"].notna()]
    key = ["trial", "analysis", "population", "arm"]
    with_n = rows[rows["n"].notna()]
    messages: dict[int, str] = {}
    for i, r in pool.iterrows():
        where = f"{r['rate_percent']:.{int(r['rate_decimals'])}f}% ({r['source_id']}, {r['location']})"   # as printed
        if not np.isnan(r["n"]):
            n, n_from = int(r["n"]), "the same row"
        else:
            same = with_n[(with_n[key] == r[key]).all(axis=1)]
            values = sorted(set(same["n"].astype(int)))
            if not values:
                messages[r[ROW]] = f"{r['arm']}: rate {where} not turned into a count: no n for this arm and analysis"
                continue
            if len(values) > 1:
                messages[r[ROW]] = (f"{r['arm']}: rate {where} not turned into a count: sources give n = "
                                    f"{', '.join(map(str, values))}")
                continue
            first = same.iloc[0]
            n, n_from = values[0], f"{first['source_id']}, {first['location']}"
        ks = counts_matching(r["rate_percent"], r["rate_decimals"], n)
        if len(ks) == 1:
            text = f"{int(ks[0])}/{n} derived: the only count that gives {where} of n = {n} ({n_from})"
            rows.loc[i, ["responders", "n", "responders_derivation"]] = [float(ks[0]), float(n), text]
            messages[r[ROW]] = f"{r['arm']}: responders {text}"
        elif len(ks) == 0:
            messages[r[ROW]] = (f"{r['arm']}: rate {where} not turned into a count: no whole number of the arm's n = {n} "
                                "gives it, so its denominator is another population")
        else:
            messages[r[ROW]] = (f"{r['arm']}: rate {where} not turned into a count: printed to "
                                f"{int(r['rate_decimals'])} decimals it fits {int(ks[0])} to {int(ks[-1])} of n = {n}")
    return replace(evidence, rows=rows), messages


def load_arms(path: str | Path) -> pd.DataFrame:
    """Read and validate an arm-level CSV: study, treatment, r (responders), n (patients)."""
    frame = read_csv_strict(path, required=ARM_COLUMNS, optional=PROVENANCE)
    name = str(path)
    r, n = [], []
    for rec in frame.to_dict("records"):
        row = rec[ROW]
        for col in ("study", "treatment"):
            if not rec[col]:
                raise EvidenceError("value is required but empty", file=name, row=row, column=col, fix=f"fill in '{col}'")
        r.append(parse_number(rec["r"], Cell(name, row, "r"), nonnegative=True, integer=True, required=True))
        n.append(parse_number(rec["n"], Cell(name, row, "n"), positive=True, integer=True, required=True))
    frame["r"], frame["n"] = r, n
    check_arms(frame, name)
    return frame.drop(columns=[ROW])


def check_arms(frame: pd.DataFrame, name: str = "<arms>") -> None:
    """Study-level checks shared by every route into the arm format."""
    rows = frame[ROW] if ROW in frame else pd.Series(np.arange(len(frame)) + 2, index=frame.index)
    over = frame.index[frame["r"] > frame["n"]]
    if len(over):
        i = over[0]
        raise EvidenceError(f"r = {frame.loc[i, 'r']:g} responders exceed n = {frame.loc[i, 'n']:g} patients", file=name,
                            row=int(rows[i]), column="r", fix="r counts the responders among the arm's n patients")
    for study, g in frame.groupby("study", sort=False):
        dup = g["treatment"][g["treatment"].duplicated()]
        if len(dup):
            raise EvidenceError(f"study '{study}' lists treatment '{dup.iloc[0]}' twice", file=name,
                                row=int(rows[dup.index[0]]), column="treatment", fix="each arm appears once per study")
        if len(g) < 2:
            raise EvidenceError(f"study '{study}' has a single arm; a comparison needs two", file=name,
                                row=int(rows[g.index].min()), column="treatment", fix="add the comparator arm, or remove the study")


def select_arms(evidence: Evidence, selection: Selection) -> Selected:
    """Arm counts (responders, n) of a binary outcome: one analysis, population and source per trial."""
    log: list[str] = []
    frames = []
    derived: dict[int, str] = {}
    if selection.responders_from_rates:
        evidence, derived = with_derived_counts(evidence, selection)
    chosen = chosen_trials(evidence, selection, log, usable=has_counts, what=COUNTS)
    if derived:   # why each considered trial's rates did, or did not, become counts
        log.extend(_derivation_log(evidence, selection, derived, dict(chosen)))
    for trial, rows in chosen:
        counted = rows[has_counts(rows)]
        left = sorted(set(rows["arm"]) - set(counted["arm"]))
        if left:
            log.append(f"{trial}: arms {', '.join(left)} have no responders/n in this source; left out of the network")
        dup = counted["arm"][counted["arm"].duplicated()]
        if len(dup):
            raise EvidenceError(f"{trial}: two rows of counts for arm {dup.iloc[0]}", file=evidence.path,
                                row=int(counted.loc[dup.index[0], ROW]), column="responders",
                                fix="keep one row per arm for each analysis, population and source")
        if len(counted) < 2:
            log.append(f"{trial}: fewer than two arms with responders/n; not included")
            continue
        frames.append(pd.DataFrame({"study": trial, "treatment": counted["arm"], "r": counted["responders"].astype(int),
                                    "n": counted["n"].astype(int), **{c: counted[c] for c in PROVENANCE if c != "trial"},
                                    "responders_derivation": counted.get("responders_derivation", ""),
                                    "trial": trial, ROW: counted[ROW]}))
    if not frames:
        raise NetworkDataError(f"no trial in {selection.setting}/{selection.outcome} reports {COUNTS} for population "
                               f"'{selection.population}'; see the selection log: " + "; ".join(log))
    arms = pd.concat(frames, ignore_index=True)
    check_arms(arms, evidence.path)
    check_grouping(selection.nodes, set(evidence.treatments["id"]), evidence.path)
    arms = apply_grouping(arms.drop(columns=[ROW]), selection.nodes, log)
    return Selected(arms, tuple(log))


def _derivation_log(evidence: Evidence, selection: Selection, derived: dict[int, str],
                    chosen: dict[str, pd.DataFrame]) -> list[str]:
    """A chosen trial's derivations from its chosen rows; a trial left out for want of counts, those of every row
    with its population and definition (what would have to change for it to enter)."""
    out = []
    tried = evidence.rows[evidence.rows[ROW].isin(derived)]
    for trial, g in tried.groupby("trial", sort=True):
        if trial in chosen:
            rows = g[g[ROW].isin(chosen[trial][ROW])]
        elif trial in selection.exclude_trials or (selection.include_trials and trial not in selection.include_trials):
            continue
        else:
            population, definition = trial_population_and_definition(trial, selection)
            rows = g[(g["population"] == population) & ((definition is None) | (g["outcome_definition"] == definition))]
        out += [f"{trial}: {derived[row]}" for row in rows[ROW]]
    return out


@dataclass(frozen=True, eq=False)
class ArmNetwork:
    """Arm-level binary studies, and optionally contrast-level log-OR studies, on the log odds ratio scale.

    ``treatments[0]`` is the reference; ``d`` are log-ORs of ``treatments[1:]`` against it. Each arm-level
    study's baseline arm (its first treatment in network order) anchors its log-odds mu_i; delta are the
    study-specific log-ORs of its other arms against that baseline. Built by :meth:`from_data`; never mutated.
    """

    arms: pd.DataFrame
    treatments: tuple[str, ...]
    contrast: Network | None = None
    outcome: str = "log_or"
    source: str = "<memory>"
    measure = "OR"

    @classmethod
    def from_data(cls, arms: pd.DataFrame, contrasts: pd.DataFrame | None = None, *, reference: str | None = None,
                  source: str = "<memory>") -> ArmNetwork:
        arms = arms.reset_index(drop=True).copy()
        check_arms(arms, source)
        both = pd.concat([arms[["study", "treatment"]]] + ([contrasts[["study", "treatment"]]] if contrasts is not None else []),
                         ignore_index=True)
        if contrasts is not None:
            shared = sorted(set(arms["study"]) & set(contrasts["study"]), key=str)
            if shared:
                raise NetworkDataError(f"study {shared[0]} is given both as arm counts and as contrasts; keep one form "
                                       "per study (arm counts where they exist)")
        treatments = ordered_treatments(both, reference, source)
        order = {t: i for i, t in enumerate(treatments)}
        studies = {s: i for i, s in enumerate(pd.unique(arms["study"]))}
        arms = arms.assign(_s=arms["study"].map(studies), _t=arms["treatment"].map(order))
        arms = arms.sort_values(["_s", "_t"], kind="stable").drop(columns=["_s", "_t"]).reset_index(drop=True)
        net = None
        if contrasts is not None:
            local_ref = next(t for t in treatments if t in set(contrasts["treatment"]))
            net = Network.from_contrasts(contrasts, reference=local_ref, outcome="log_or", source=source,
                                         require_connected=False)
        return cls(arms, treatments, net, "log_or", source)

    # ---- structure -------------------------------------------------------------------------
    @property
    def reference(self) -> str:
        return self.treatments[0]

    @cached_property
    def arm_studies(self) -> tuple[str, ...]:
        return tuple(pd.unique(self.arms["study"]))

    @cached_property
    def studies(self) -> tuple[str, ...]:
        return self.arm_studies + (self.contrast.studies if self.contrast is not None else ())

    @cached_property
    def contrasts(self) -> pd.DataFrame:
        """Every study's rows, arm counts and contrasts alike (for contrasts.csv, the report and the plots)."""
        return pd.concat([self.arms] + ([self.contrast.contrasts] if self.contrast is not None else []), ignore_index=True)

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        return comparisons_table(self.contrasts)

    @property
    def n_studies_per_treatment(self) -> pd.Series:
        return self.contrasts.groupby("treatment")["study"].nunique()

    @cached_property
    def study_of_arm(self) -> np.ndarray:
        pos = {s: i for i, s in enumerate(self.arm_studies)}
        return self.arms["study"].map(pos).to_numpy(int)

    @cached_property
    def treatment_of_arm(self) -> np.ndarray:
        """Index into `treatments` (0 = reference) of each arm."""
        pos = {t: i for i, t in enumerate(self.treatments)}
        return self.arms["treatment"].map(pos).to_numpy(int)

    @cached_property
    def is_baseline(self) -> np.ndarray:
        return ~self.arms["study"].duplicated().to_numpy()

    @cached_property
    def delta_position(self) -> np.ndarray:
        """Per arm: 0 for a baseline arm, else 1 + its index among the non-baseline arms (into [0, delta])."""
        return np.where(self.is_baseline, 0, np.cumsum(~self.is_baseline))

    @cached_property
    def baseline_of_arm(self) -> np.ndarray:
        """Treatment index of each arm's study baseline."""
        first = self.treatment_of_arm[self.is_baseline]
        return first[self.study_of_arm]

    @cached_property
    def delta_labels(self) -> list[str]:
        a = self.arms[~self.is_baseline]
        base = np.asarray(self.treatments)[self.baseline_of_arm[~self.is_baseline]]
        return [f"{s}: {t} vs {b}" for s, t, b in zip(a["study"], a["treatment"], base)]

    @cached_property
    def arm_labels(self) -> list[str]:
        return [f"{s}: {t}" for s, t in self.arms[["study", "treatment"]].itertuples(index=False)]

    @cached_property
    def delta_cholesky(self) -> np.ndarray:
        """Block-diagonal Cholesky factor of C (1 on the diagonal, 0.5 within a study): delta = theta + tau L z."""
        study = self.study_of_arm[~self.is_baseline]
        C = np.where(study[:, None] == study[None, :], 0.5, 0.0) + 0.5 * np.eye(len(study))
        return np.linalg.cholesky(C)

    @cached_property
    def centre_weights(self) -> np.ndarray:
        """(arm-level studies, arms) weights w_ik ~ n p(1 - p) of each arm in its study, summing to 1 per study.

        Only for conditioning: the model samples each study's information-weighted mean log-odds
        m_i = mu_i + sum_k w_ik delta_ik rather than mu_i, which the data nearly decorrelate from delta. The shear
        has unit Jacobian, and mu keeps its prior, so the posterior is unchanged (p uses (r + 0.5)/(n + 1) here,
        in the weights only; the likelihood sees the counts as they are)."""
        r, n = self.arms["r"].to_numpy(float), self.arms["n"].to_numpy(float)
        p = (r + 0.5) / (n + 1.0)
        v = n * p * (1 - p)
        W = np.zeros((len(self.arm_studies), len(self.arms)))
        W[self.study_of_arm, np.arange(len(self.arms))] = v
        return W / W.sum(1, keepdims=True)

    @cached_property
    def contrast_treatment_index(self) -> np.ndarray:
        """Index into `treatments` of the contrast part's treatments (its reference first)."""
        pos = {t: i for i, t in enumerate(self.treatments)}
        return np.array([pos[t] for t in self.contrast.treatments])

    def summary(self) -> str:
        text = network_summary(self.contrasts, self.reference, self.outcome)
        kinds = f"{len(self.arm_studies)} with arm-level counts (binomial likelihood)"
        if self.contrast is not None:
            kinds += f", {len(self.contrast.studies)} with contrast-level log-ORs (normal likelihood)"
        return text.replace("\n", f"\nStudies: {kinds}.\n", 1)

    def __repr__(self) -> str:
        return f"ArmNetwork({len(self.studies)} studies, {len(self.treatments)} treatments, reference={self.reference!r})"


# ---- draws in, per-study numbers out (NumPy only) -----------------------------------------------
def local_d(net: ArmNetwork, all_draws: np.ndarray) -> np.ndarray:
    """Basic parameters of the contrast part in its own coordinates (its treatments[1:] vs its reference)."""
    idx = net.contrast_treatment_index
    return all_draws[:, idx[1:]] - all_draws[:, idx[:1]]


def fitted_probabilities(net: ArmNetwork, mu: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """p_ik = logistic(mu_i + delta_ik) per draw and arm: (n_draws, n_arms). mu (n, S), delta (n, non-baseline arms)."""
    padded = np.concatenate([np.zeros((len(mu), 1)), delta], axis=1)
    return special.expit(mu[:, net.study_of_arm] + padded[:, net.delta_position])


def binomial_deviance(r: np.ndarray, n: np.ndarray, rhat: np.ndarray) -> np.ndarray:
    """TSD2's residual deviance of binomial data: 2 [r log(r / rhat) + (n - r) log((n - r) / (n - rhat))].

    0 log 0 = 0, so zero cells (r = 0 or r = n) contribute only their other term."""
    return 2 * (special.xlogy(r, r) - special.xlogy(r, rhat) + special.xlogy(n - r, n - r) - special.xlogy(n - r, n - rhat))


def _per_study(net: ArmNetwork, per_arm: np.ndarray) -> np.ndarray:
    """Sum arm columns (..., n_arms) into arm-level study columns (..., n_arm_studies)."""
    out = np.zeros(per_arm.shape[:-1] + (len(net.arm_studies),))
    np.add.at(out.T, net.study_of_arm, per_arm.T)
    return out


def study_log_likelihood(net: ArmNetwork, mu: np.ndarray, delta: np.ndarray, all_draws: np.ndarray,
                         tau: np.ndarray | None) -> np.ndarray:
    """Pointwise log-likelihood (n_draws, studies) in `net.studies` order: binomial given (mu, delta) for the
    arm-level studies; the contrast model's (delta integrated out) for the contrast-level ones."""
    from .model import study_log_likelihood as contrast_ll

    p = fitted_probabilities(net, mu, delta)
    r, n = net.arms["r"].to_numpy(float), net.arms["n"].to_numpy(float)
    parts = [_per_study(net, stats.binom.logpmf(r, n, p))]
    if net.contrast is not None:
        parts.append(contrast_ll(net.contrast, local_d(net, all_draws), tau))
    return np.concatenate(parts, axis=1)


def model_fit(net: ArmNetwork, mu: np.ndarray, delta: np.ndarray, all_draws: np.ndarray,
              tau: np.ndarray | None) -> tuple[pd.DataFrame, dict]:
    """TSD2 model fit per study: posterior mean residual deviance (binomial for arm-level studies, summed over
    arms), leverage = mean deviance - deviance at the posterior mean of the fitted counts rhat = n p, and DIC."""
    from .fitstats import model_fit as contrast_fit

    p = fitted_probabilities(net, mu, delta)
    r, n = net.arms["r"].to_numpy(float), net.arms["n"].to_numpy(float)
    mean_dev = _per_study(net, binomial_deviance(r, n, n * p).mean(0))
    dev_at_mean = _per_study(net, binomial_deviance(r, n, n * p.mean(0)))
    points = np.bincount(net.study_of_arm, minlength=len(net.arm_studies))
    table = pd.DataFrame({"study": net.arm_studies, "n_datapoints": points, "resdev": mean_dev,
                          "leverage": mean_dev - dev_at_mean, "dic": 2 * mean_dev - dev_at_mean})
    if net.contrast is not None:
        table = pd.concat([table, contrast_fit(net.contrast, local_d(net, all_draws), tau)[0]], ignore_index=True)
    totals = {"resdev": float(table["resdev"].sum()), "n_datapoints": int(table["n_datapoints"].sum()),
              "pD": float(table["leverage"].sum()), "DIC": float(table["dic"].sum())}
    return table, totals
