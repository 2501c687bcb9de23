"""The canonical contrast table: the one format every network is built from.

Columns (multinma's contrast format, with provenance):

* ``study`` — study label (the trial name when built from ``data/``);
* ``treatment`` — treatment id;
* ``y`` — log-HR of ``treatment`` against the study's reference arm; empty on the reference arm's row;
* ``se`` — SE of ``y``. On the reference arm's row: SE of that arm's absolute log hazard, where known,
  used only as the covariance of a multi-arm study's contrasts;
* ``n`` — patients randomised to the arm (optional);
* provenance columns when built from the evidence: trial, analysis, data_cut, population,
  outcome_definition, source_id, location.

The same format is accepted from any CSV (:func:`load_contrasts`), so users can bring contrasts from anywhere.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from nma.core.ratios import (
    DEFAULT_REFERENCE_VARIANCE_FRACTION,
    reference_arm_se,
    se_from_ci,
)
from nma.core.tables import ROW
from nma.core.validation import PROVENANCE
from nma.errors import EvidenceError, EvidenceWarning, NetworkDataError
from nma.evidence.analysis_order import analysis_rank, known_labels_hint
from nma.evidence.evidence import SOURCE_RANK, Evidence, usable_hr
from nma.evidence.nodes import NodeGrouping, apply_grouping, check_grouping


@dataclass(frozen=True)
class TrialChoice:
    """Per-trial overrides of the selection: which analysis (data cut), population, source, definition."""

    analysis: str | None = None
    population: str | None = None
    source: str | None = None
    outcome_definition: str | None = None


@dataclass(frozen=True)
class Selection:
    """Which rows of the evidence base form one analysis's network."""

    setting: str
    outcome: str
    population: str = "itt"
    outcome_definition: str | None = None
    trials: Mapping[str, TrialChoice] = field(default_factory=dict)
    exclude_trials: tuple[str, ...] = ()
    include_trials: tuple[str, ...] = ()      # when given, only these trials
    reference_variance_fraction: float = DEFAULT_REFERENCE_VARIANCE_FRACTION
    nodes: NodeGrouping = field(default_factory=NodeGrouping)   # how regimens are pooled into nodes, and why
    responders_from_rates: bool = False       # binary outcomes: derive r from a printed rate and n (binomial.py)


@dataclass(frozen=True)
class Selected:
    """The contrast table plus a log of every choice made, for the report and run.json."""

    contrasts: pd.DataFrame
    log: tuple[str, ...]


def select(evidence: Evidence, selection: Selection) -> Selected:
    """Choose one analysis, population and source per trial, and turn the chosen rows into contrasts."""
    log: list[str] = []
    frames = [_study_contrasts(trial, chosen, selection.reference_variance_fraction, evidence.path, log)
              for trial, chosen in chosen_trials(evidence, selection, log)]
    frames = [f for f in frames if f is not None]
    if not frames:
        raise NetworkDataError(f"no trial in {selection.setting}/{selection.outcome} reports an HR for population "
                               f"'{selection.population}'; see the selection log: " + "; ".join(log))
    check_grouping(selection.nodes, set(evidence.treatments["id"]), evidence.path)
    contrasts = apply_grouping(pd.concat(frames, ignore_index=True), selection.nodes, log)
    return Selected(contrasts, tuple(log))


def chosen_trials(evidence: Evidence, selection: Selection, log: list[str], usable=usable_hr,
                  what: str = "HR with its CI and CI level") -> list[tuple[str, pd.DataFrame]]:
    """(trial, its chosen rows) for every trial of the setting/outcome the config keeps, logging each choice."""
    rows = evidence.rows
    pool = rows[(rows["setting"] == selection.setting) & (rows["outcome"] == selection.outcome)]
    if pool.empty:
        have = rows.groupby(["setting", "outcome"]).size()
        raise NetworkDataError(
            f"{evidence.path}: no rows for setting '{selection.setting}' and outcome '{selection.outcome}'. "
            f"Available setting/outcome pairs: {', '.join(f'{s}/{o}' for s, o in have.index)}. "
            "Fix: correct [data] setting/outcome in the config, or add the trial rows to the evidence file.")
    for trial in (*selection.trials, *selection.include_trials):
        if trial not in set(pool["trial"]):
            key = f"[data.trials.{trial}]" if trial in selection.trials else "[data] include_trials"
            raise NetworkDataError(f"{evidence.path}: config names trial '{trial}' ({key}), which has no "
                                   f"{selection.setting}/{selection.outcome} rows; trials available: "
                                   f"{', '.join(sorted(set(pool['trial'])))}. Fix: correct the trial name, or remove it "
                                   "from the config")
    for rec in pool.drop_duplicates("analysis").to_dict("records"):   # every label must have its place in the order
        if analysis_rank(rec["analysis"]) is None:
            raise EvidenceError(f"analysis label '{rec['analysis']}' ({rec['trial']}) has no place in the order of analyses "
                                "(primary < interim 1 < interim 2 < updated / N-year < final < long-term)",
                                file=evidence.path, row=int(rec[ROW]), column="analysis",
                                fix=f"use a known label ({known_labels_hint()}), or add it to nma/evidence/analysis_order.py "
                                    "and data/README.md")
    out = []
    for trial, trows in pool.groupby("trial", sort=True):
        if trial in selection.exclude_trials or (selection.include_trials and trial not in selection.include_trials):
            log.append(f"{trial}: excluded by config")
            continue
        chosen = _choose(trial, trows, selection, log, evidence.sources, usable, what)
        if chosen is not None:
            out.append((trial, chosen))
    return out


def trial_population_and_definition(trial: str, sel: Selection) -> tuple[str, str | None]:
    """The population and outcome definition a trial's rows must have: its [data.trials] choice, else [data]'s.
    A trial's own definition wins, "" included (rows whose source names no definition); None: any definition."""
    choice = sel.trials.get(trial, TrialChoice())
    definition = choice.outcome_definition if choice.outcome_definition is not None else sel.outcome_definition
    return choice.population or sel.population, definition


def _choose(trial: str, trows: pd.DataFrame, sel: Selection, log: list[str], sources: pd.DataFrame,
            usable=usable_hr, what: str = "HR with its CI and CI level") -> pd.DataFrame | None:
    """One analysis, population and source of a trial, among rows passing `usable` (HRs here; counts in binomial.py)."""
    choice = sel.trials.get(trial, TrialChoice())
    population, definition = trial_population_and_definition(trial, sel)
    rows = trows[trows["population"] == population]
    if rows.empty:
        msg = (f"{trial}: no rows for population '{population}' (has: {', '.join(sorted(set(trows['population'])))}); "
               f"not included. To include it, set [data.trials.{trial}] population")
        warnings.warn(msg, EvidenceWarning, stacklevel=3)
        log.append(msg)
        return None
    if definition is not None:
        rows = rows[rows["outcome_definition"] == definition]
        if rows.empty:
            msg = f"{trial}: no rows with outcome_definition '{definition}'; not included"
            warnings.warn(msg, EvidenceWarning, stacklevel=3)
            log.append(msg)
            return None
    elif rows["outcome_definition"].nunique() > 1:
        raise NetworkDataError(
            f"{trial} reports {sel.outcome} under several definitions {sorted(set(rows['outcome_definition']))}; "
            f"choose one with [data] outcome_definition or [data.trials.{trial}] outcome_definition")
    with_hr = rows[usable(rows)]
    if with_hr.empty:
        msg = f"{trial}: no {what} for {sel.outcome} in population '{population}'; not included"
        log.append(msg)
        return None
    analyses = with_hr.groupby("analysis")["data_cut"].max()  # sources of one analysis may omit its date
    if choice.analysis is not None:
        if choice.analysis not in analyses.index:
            raise NetworkDataError(f"[data.trials.{trial}] analysis = '{choice.analysis}' has no {what} for "
                                   f"{sel.outcome}/{population}; available: {', '.join(analyses.index)}")
        analysis, why = choice.analysis, "chosen in config"
    elif len(analyses) == 1:
        analysis, why = analyses.index[0], "the only analysis"
    else:
        analysis, why = _latest_analysis(trial, analyses, sel.outcome, log)
    rows = rows[rows["analysis"] == analysis]
    ranked = (rows[usable(rows)][["source_id"]].drop_duplicates()
              .merge(sources[["source_id", "kind"]], on="source_id"))
    if choice.source is not None:
        if choice.source not in set(ranked["source_id"]):
            raise NetworkDataError(f"[data.trials.{trial}] source = '{choice.source}' reports no {what} for analysis "
                                   f"'{analysis}'; sources available: {', '.join(ranked['source_id'])}")
        source = choice.source
    else:
        ranked = ranked.assign(rank=ranked["kind"].map(SOURCE_RANK)).sort_values(["rank", "source_id"])
        source = ranked["source_id"].iloc[0]
        if len(ranked) > 1:
            others = ", ".join(ranked["source_id"].iloc[1:])
            why += f"; source {source} preferred over {others} (primary publications first)"
    log.append(f"{trial}: analysis '{analysis}' ({why}), population '{population}', source {source}")
    return rows[rows["source_id"] == source]


def _latest_analysis(trial: str, cuts: pd.Series, outcome: str, log: list[str]) -> tuple[str, str]:
    """The latest of a trial's analyses in the order of analyses (nma/evidence/analysis_order.py), whether or not a
    data cut is printed; within a stage, the follow-up in the label, then the data cut where both are dated.
    `cuts`: data_cut by analysis label ("" when undated). Returns (analysis, why) for the selection log."""
    ranks = {a: analysis_rank(a) for a in cuts.index}
    ordered = sorted((r for r in ranks.values() if r.stage is not None), key=lambda r: r.stage, reverse=True)
    unordered = sorted(a for a, r in ranks.items() if r.stage is None)
    ask = f"choose one with [data.trials.{trial}] analysis"
    if not ordered:
        raise NetworkDataError(f"{trial} has several analyses for {outcome} ({', '.join(cuts.index)}), none with a place in "
                               f"the order of analyses; {ask}")
    top = [r for r in ordered if r.stage == ordered[0].stage]
    if len(top) == 1:
        chosen, within = top[0], ""
    elif all(r.years is not None for r in top) and len({r.years for r in top}) == len(top):
        chosen, within = max(top, key=lambda r: r.years), "; within its stage, the longest follow-up in the label"
    elif all(cuts[r.label] for r in top) and len({cuts[r.label] for r in top}) == len(top):
        chosen, within = max(top, key=lambda r: cuts[r.label]), "; within its stage, the latest data cut"
    else:
        raise NetworkDataError(f"{trial} has several analyses for {outcome} in the same stage of the order of analyses "
                               f"({', '.join(r.describe() for r in top)}) and neither their labels nor their data cuts "
                               f"tell which is later; {ask}")
    earlier = [r for r in ordered if r is not chosen]
    why = f"latest in the order of analyses: {chosen.describe()}"
    if earlier:
        why += f", after {', '.join(r.describe() for r in earlier)}"
    why += within
    if not cuts[chosen.label] and any(cuts[r.label] for r in earlier):
        why += "; it has no data cut printed, the order decides, not the date"
    if unordered:
        why += f"; not ordered, so not considered (name one in the config to use it): {', '.join(unordered)}"
    later_dated = [r for r in earlier if cuts[r.label] and cuts[chosen.label] and cuts[r.label] > cuts[chosen.label]]
    if later_dated:
        msg = (f"{trial}: analysis '{chosen.label}' ({cuts[chosen.label]}) is latest in the order of analyses but "
               f"{', '.join(f'{r.label} ({cuts[r.label]})' for r in later_dated)} has a later data cut; check the labels")
        warnings.warn(msg, EvidenceWarning, stacklevel=4)
        log.append(msg)
    return chosen.label, why


def _study_contrasts(trial: str, rows: pd.DataFrame, fraction: float, path: str, log: list[str]) -> pd.DataFrame | None:
    """Log-HRs of every arm against the trial's control arm, inverting HRs reported the other way round."""
    controls = rows[rows["arm_role"] == "control"]
    if len(controls) != 1:
        raise EvidenceError(f"{trial} ({rows['analysis'].iloc[0]}) has {len(controls)} control arms; exactly one is needed "
                            "as the reference of its contrasts", file=path, row=int(rows[ROW].min()), column="arm_role",
                            fix="mark one arm as control and the others as experimental")
    control = controls.iloc[0]
    ref = control["arm"]
    effects: dict[str, tuple[float, float, pd.Series]] = {}
    for _, rec in rows[usable_hr(rows)].iterrows():
        y, se = math.log(rec["hr"]), se_from_ci(rec["ci_lower"], rec["ci_upper"], rec["ci_level"])
        if rec["comparator"] == ref:
            arm = rec["arm"]
        elif rec["arm"] == ref:
            arm, y = rec["comparator"], -y  # reported as control vs experimental: invert
        else:
            raise EvidenceError(f"HR of {rec['arm']} vs {rec['comparator']} does not involve the control arm {ref}; "
                                "contrasts must be against the control", file=path, row=int(rec[ROW]), column="comparator",
                                fix=f"enter the HR against '{ref}', or mark the right arm as control")
        if arm in effects:
            raise EvidenceError(f"{trial}: two HRs for {arm} vs {ref}", file=path, row=int(rec[ROW]), column="hr",
                                fix="keep one of them (one analysis, one source)")
        effects[arm] = (y, se, rec)
    arms_without = sorted(set(rows["arm"]) - set(effects) - {ref})
    if arms_without:
        log.append(f"{trial}: arms {', '.join(arms_without)} report no HR against {ref}; left out of the network")
    ref_se, assumed = reference_arm_se([se for _, se, _ in effects.values()], control["events"], fraction)
    if len(effects) > 1:
        if not assumed:
            log.append(f"{trial}: reference-arm log-hazard SE 1/sqrt({int(control['events'])} events) for the multi-arm covariance")
        else:
            msg = (f"{trial}: the control arm's events are not reported; its log-hazard variance is assumed to be "
                   f"{fraction:g} x the smallest contrast variance (se {ref_se:.4f}). Set [data] "
                   "reference_variance_fraction to change this assumption")
            warnings.warn(msg, EvidenceWarning, stacklevel=3)
            log.append(msg)
    def record(arm, y, se, rec, printed=None):
        # hr, ci_lower, ci_upper, ci_level: the ratio as the trial printed it, turned to arm vs the control when it
        # was printed the other way round, so a one-trial direct estimate shows the paper's CI to its last decimal
        hr, lo, hi, level = (math.nan,) * 4 if printed is None else (
            (printed["hr"], printed["ci_lower"], printed["ci_upper"], printed["ci_level"]) if printed["comparator"] == ref
            else (1 / printed["hr"], 1 / printed["ci_upper"], 1 / printed["ci_lower"], printed["ci_level"]))
        return {"study": trial, "treatment": arm, "y": y, "se": se, "n": rec["n"], "hr": hr, "ci_lower": lo,
                "ci_upper": hi, "ci_level": level, **{c: rec[c] for c in PROVENANCE if c != "trial"}, "trial": trial}
    out = [record(ref, math.nan, ref_se, control)]
    arm_rows = rows.set_index("arm")
    for arm, (y, se, rec) in effects.items():
        out.append(record(arm, y, se, arm_rows.loc[arm] if arm in arm_rows.index else rec, printed=rec))
    return pd.DataFrame(out)


