"""Arm-level binary evidence (responders r out of n per arm), alone or beside contrast-level studies.

The arm-based binomial model (NICE DSU TSD2 Program 1) keeps each study's arms as counts, so zero cells
need no continuity correction: the binomial likelihood handles them. Studies reported only as contrasts
(log odds ratios with SEs) join the same network on the same scale and share d and tau with the arm-level
studies (TSD2 Program 8, the shared-parameter model). This module holds the data structure and the pure
NumPy pieces (pointwise log-likelihood, residual deviance); the PyMC model is in `binomial_model.py`.

Arm table columns: ``study, treatment, r, n`` (plus provenance columns when built from ``data/``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from nma.core.arms import check_arms
from nma.core.tables import ROW
from nma.core.validation import PROVENANCE
from nma.errors import EvidenceError, NetworkDataError
from nma.evidence.evidence import Evidence
from nma.evidence.nodes import apply_grouping, check_grouping
from nma.evidence.selection import (
    Selected,
    Selection,
    chosen_trials,
    trial_population_and_definition,
)

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


