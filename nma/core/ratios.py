"""A ratio (HR, OR, RR) with its confidence interval, exactly as a publication prints it, turned into a log-ratio
and its standard error, with the checks every route shares: data/ (nma.evidence), a user's ratio CSV
(nma.inputs.ratios) and :meth:`nma.core.network.Network.from_ratios`.

Pure functions: no file reading here. `cell` arguments are anything with ``error(message, value=, fix=)`` that
also names where the value came from (:class:`nma.core.tables.Cell` for a file, :class:`FrameCell` for a
DataFrame given in Python), so every error names the row and the column.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from nma.core.tables import ROW, Cell, closest, decimals, parse_number
from nma.core.validation import _check_covariance, check_contrasts
from nma.errors import EvidenceError, EvidenceWarning, NetworkDataError

#: A CI whose point estimate sits further than this fraction of the log-width from the CI's log-midpoint is
#: not a rounding artefact: ratio and bounds come from different analyses, or a bound was mistyped.
GROSS_ASYMMETRY = 0.25
#: Reported p-values come from log-rank tests, the CI from a Cox model, so allow this factor either way.
P_VALUE_FACTOR = 3.0
#: Default assumption when a multi-arm trial does not report the reference arm's events: its log-hazard
#: variance is this fraction of the smallest contrast variance (exactly 1/2 when the two arms have equal events).
DEFAULT_REFERENCE_VARIANCE_FRACTION = 0.5
#: Prefix of a p-value cell marking a one-sided p (data/README.md): 'one-sided 0.0188', 'one-sided <0.001'.
ONE_SIDED = "one-sided"


@dataclass(frozen=True)
class FrameCell:
    """A cell of a DataFrame given in Python: errors say 'row N of df, column 'c''."""

    index: object
    column: str
    frame: str = "df"

    @property
    def file(self) -> str:
        return f"row {self.index} of {self.frame}"

    @property
    def row(self) -> None:
        return None

    def error(self, message: str, value: object = None, fix: str | None = None) -> EvidenceError:
        return EvidenceError(message, file=self.file, column=self.column, value=value, fix=fix)


def where(cell) -> str:
    """'file.csv, row 4' for a file's cell, 'row 2 of df' for a DataFrame's: the prefix of a warning."""
    return cell.file if cell.row is None else f"{cell.file}, row {cell.row}"


def z_for_level(level: float) -> float:
    """Normal quantile for a two-sided interval: 1.959964 for 0.95, 2.241403 for 0.975."""
    return float(stats.norm.ppf((1.0 + level) / 2.0))


def se_from_ci(lower: float, upper: float, level: float) -> float:
    """SE of the log-HR from a CI on the HR scale: (ln U - ln L) / (2 z)."""
    return (math.log(upper) - math.log(lower)) / (2.0 * z_for_level(level))


def rounding(text: str) -> float:
    """Half a unit in the last typed decimal place: the most that reporting can have rounded away."""
    return 0.5 * 10.0 ** (-decimals(text))


def check_level(level: float, text: str, cell) -> None:
    """A CI level is a fraction: 0.95, not 95."""
    if not math.isnan(level) and not 0 < level < 1:
        hint = f"write {level / 100:g} for a {level:g}% interval" if 1 < level < 100 else "use a fraction such as 0.95"
        raise cell.error("CI level must be a fraction between 0 and 1", value=text, fix=hint)


def check_ci(ratio: float, lower: float, upper: float, texts: tuple[str, str, str], cell, *, code: str = "HR",
             column: str = "hr", stacklevel: int = 2) -> None:
    """Bounds ordered, the ratio inside its CI, and the CI log-symmetric around it within reporting rounding:
    an error when grossly asymmetric, a warning when beyond rounding. `texts` are ratio, lower, upper as typed;
    `cell(col)` locates a column of this row; `column` is the ratio's column name."""
    t_ratio, t_lower, t_upper = texts
    if lower >= upper:
        raise cell("ci_lower").error(f"lower bound {t_lower} is not below upper bound {t_upper}",
                                     fix="the bounds may be swapped; type the smaller bound in ci_lower")
    if not lower <= ratio <= upper:
        raise cell(column).error(f"{code} {t_ratio} lies outside its CI ({t_lower}, {t_upper})",
                                 fix=f"check the {code} and bounds against the source; one of them is mistyped or inverted")
    asym = math.log(ratio) - 0.5 * (math.log(lower) + math.log(upper))
    width = math.log(upper) - math.log(lower)
    slack = rounding(t_ratio) / ratio + 0.5 * (rounding(t_lower) / lower + rounding(t_upper) / upper)
    if abs(asym) > GROSS_ASYMMETRY * width and abs(asym) > slack:
        raise cell(column).error(
            f"{code} {t_ratio} is far from the log-midpoint {math.exp(0.5 * (math.log(lower) + math.log(upper))):.3f} "
            f"of its CI ({t_lower}, {t_upper}): the CI is grossly asymmetric on the log scale",
            fix=f"check that {code} and CI come from the same analysis and are typed correctly")
    if abs(asym) > slack + 1e-12:
        warnings.warn(f"{where(cell(column))}: CI ({t_lower}, {t_upper}) is asymmetric "
                      f"around {code} {t_ratio} on the log scale by {asym:+.4f}, more than reporting rounding allows "
                      f"({slack:.4f}); the SE is taken from the CI width", EvidenceWarning, stacklevel=stacklevel + 1)


def one_sided(text: str) -> tuple[bool, str]:
    """(whether the cell is marked one-sided, the p-value as printed without the mark)."""
    t = text.strip()
    if t.lower().startswith(ONE_SIDED):
        return True, t[len(ONE_SIDED):].strip()
    return False, t


def parse_p(text: str, cell) -> tuple[str, float]:
    """A p-value as printed: '0.044', '<0.001', '≤0.05', optionally marked 'one-sided <0.001'. Returns (relation, value)."""
    _, text = one_sided(text)
    t = text.replace(" ", "").replace("≤", "<=").replace("≥", ">=")
    relation = "="
    for rel in ("<=", ">=", "<", ">", "="):
        if t.startswith(rel):
            relation, t = rel.replace("=", "") or "=", t[len(rel):]
            break
    try:
        value = float(t)
    except ValueError:
        raise cell.error("p-value is not a number", value=text, fix="type it as printed, e.g. 0.044 or <0.001") from None
    if not 0 <= value <= 1:
        raise cell.error("p-value must lie between 0 and 1", value=text, fix="type it as a probability, e.g. 0.044")
    return relation, value


def check_p_against_ci(p_text: str, ratio: float, lower: float, upper: float, level: float, texts: tuple[str, str, str],
                       cell, *, code: str = "HR", stacklevel: int = 2) -> None:
    """Warn when the reported p-value cannot be reconciled with the Wald p implied by the ratio and CI. A p marked
    one-sided is not held to the two-sided Wald p: it is compared with the one-sided one (half of it)."""
    t_ratio, t_lower, t_upper = texts
    is_one_sided, printed = one_sided(p_text)
    relation, p = parse_p(p_text, cell("p_value"))
    sides = 1 if is_one_sided else 2
    z = z_for_level(level)
    d_hr, d_lo, d_up = rounding(t_ratio), rounding(t_lower), rounding(t_upper)
    se_hi = (math.log(upper + d_up) - math.log(max(lower - d_lo, 1e-12))) / (2 * z)
    se_lo = max((math.log(upper - d_up) - math.log(lower + d_lo)) / (2 * z), 1e-12) if upper - d_up > lower + d_lo else 1e-12
    effect = abs(math.log(ratio))
    effect_lo = max(effect - d_hr / ratio, 0.0)
    effect_hi = effect + d_hr / ratio
    p_max = sides * stats.norm.sf(effect_lo / se_hi)
    p_min = sides * stats.norm.sf(effect_hi / se_lo)
    if relation == "<":
        ok = p_min < p * P_VALUE_FACTOR
    elif relation == ">":
        ok = p_max > p / P_VALUE_FACTOR
    else:
        d_p = rounding(printed.lstrip("=").strip())
        ok = (p + d_p) * P_VALUE_FACTOR >= p_min and (p - d_p) / P_VALUE_FACTOR <= p_max
    if not ok:
        warnings.warn(f"{where(cell('p_value'))}: reported p {p_text} does not match the "
                      f"{'one' if is_one_sided else 'two'}-sided p implied by {code} {t_ratio} ({t_lower}, "
                      f"{t_upper}), which lies in [{p_min:.2g}, {p_max:.2g}]; check direction, CI level and "
                      f"whether p is one-sided (mark it 'one-sided ...', see data/README.md)",
                      EvidenceWarning, stacklevel=stacklevel + 1)


def reference_arm_se(contrast_se: list[float], events: float = math.nan,
                     fraction: float = DEFAULT_REFERENCE_VARIANCE_FRACTION, *, variance: float = math.nan) -> tuple[float, bool]:
    """The multi-arm covariance rule: the SE of the reference arm's log-hazard (the covariance of a study's
    contrasts) is 1/sqrt(events) when the reference arm's events are known (or sqrt(variance) when that arm's
    variance is given: :func:`arm_log_variance`), else sqrt(fraction x the smallest contrast variance).
    Returns (se, assumed): `assumed` is True when the fraction was used (say so to the user).
    A two-arm study needs none (NaN)."""
    if len(contrast_se) < 2:
        return math.nan, False
    if not math.isnan(variance) and variance > 0:
        return math.sqrt(variance), False
    if not math.isnan(events) and events > 0:
        return 1.0 / math.sqrt(events), False
    return math.sqrt(fraction * min(se**2 for se in contrast_se)), True


# ---- a user's table of ratios (Network.from_ratios, nma.inputs.ratios) -------------------------------------

#: Columns of a ratio table besides the ratio itself ('hr', 'or', 'rr', ... or 'ratio').
RATIO_REQUIRED = ("study", "treatment", "ci_lower", "ci_upper")
RATIO_OPTIONAL = ("ci_level", "p_value", "n", "events")
DEFAULT_CI_LEVEL = 0.95
#: The ratio column names every ratio measure accepts.
RATIO_COLUMN_CODES = ("hr", "or", "rr", "rar")


def ratio_columns(measure) -> tuple[str, ...]:
    """The names the ratio column may have for a measure: its lower-case code, or 'ratio'."""
    return (measure.code.lower(), "ratio")


def ratio_column(columns, measure, name: str, place=lambda col: {"column": col}) -> str:
    """Which column holds the ratio, or an EvidenceError saying which name to use."""
    accepted = ratio_columns(measure)
    found = [c for c in accepted if c in columns]
    if len(found) > 1:
        raise EvidenceError(f"both '{found[0]}' and '{found[1]}' are given; the ratio needs one column", file=name,
                            **place(found[1]), fix="delete one of the two columns")
    if found:
        return found[0]
    other = [c for c in RATIO_COLUMN_CODES if c in columns and c not in accepted]
    if other:
        raise EvidenceError(f"column '{other[0]}' holds {other[0].upper()}s, but the measure is {measure.code} "
                            f"({measure.name})", file=name, **place(other[0]),
                            fix=f"rename the column to '{accepted[0]}' if these are {measure.name}s, or give "
                                f"measure=\"{other[0].upper()}\" ([data] measure = \"{other[0].upper()}\" in a config)")
    raise EvidenceError(f"missing the ratio column ('{accepted[0]}' or 'ratio')", file=name, **place(accepted[0]),
                        fix=f"add a column '{accepted[0]}' with the {measure.name} of each arm against its study's "
                            "reference arm, empty on the reference arm's row")


def cell_text(value) -> str:
    """A cell as typed: strings stripped; numbers as their shortest repr (0.69, not 0.68999...); missing as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    if math.isnan(f):
        return ""
    if float(f).is_integer() and abs(f) < 1e15 and not isinstance(value, float):
        return str(int(f))
    return repr(f)


def contrasts_from_ratios(df, measure, source: str = "<memory>"):
    """A table of ratios with their CIs as printed (study, treatment, hr|or|rr|ratio, ci_lower, ci_upper[, ci_level,
    p_value, n, events]; the reference arm's ratio empty) as the canonical contrast table: y = log(ratio),
    se = (log U - log L) / (2 z), every check data/ has, and the reference arm's se for a multi-arm study.

    Rows are named as a spreadsheet shows them when the table came from a file (its `_row` column, else
    index + 2 when `source` names a file), and as ``row N of df`` for a DataFrame built in Python."""
    in_memory = source == "<memory>" and ROW not in df
    name = "df" if in_memory else source
    if in_memory:
        place = lambda col: {"column": col}
    else:
        place = lambda col: {"row": 1, "column": col}
    if not isinstance(df, pd.DataFrame):
        raise EvidenceError(f"expected a pandas DataFrame, got {type(df).__name__}", file=name,
                            fix="pass pd.DataFrame({'study': ..., 'treatment': ..., 'hr': ..., 'ci_lower': ..., "
                                "'ci_upper': ...}) or read the CSV with nma.inputs.ratios.load_ratios")
    col = ratio_column(df.columns, measure, name, place)
    for c in RATIO_REQUIRED:
        if c not in df.columns:
            raise EvidenceError("missing required column", file=name, **place(c), fix=f"add the column '{c}'")
    code = measure.code
    records = []
    for pos, (idx, rec) in enumerate(df.iterrows()):
        if ROW in df:
            at = lambda c, r=int(rec[ROW]): Cell(name, r, c)
        elif in_memory:
            at = lambda c, i=idx: FrameCell(i, c)
        else:
            at = lambda c, r=pos + 2: Cell(name, r, c)
        text = {c: cell_text(rec[c]) if c in df.columns else "" for c in (*RATIO_REQUIRED, *RATIO_OPTIONAL, col)}
        for c in ("study", "treatment"):
            if not text[c]:
                raise at(c).error("value is required but empty", fix=f"fill in '{c}'")
        ratio = parse_number(text[col], at(col), positive=True)
        lower = parse_number(text["ci_lower"], at("ci_lower"), positive=True)
        upper = parse_number(text["ci_upper"], at("ci_upper"), positive=True)
        level = parse_number(text["ci_level"], at("ci_level")) if text["ci_level"] else DEFAULT_CI_LEVEL
        n = parse_number(text["n"], at("n"), positive=True, integer=True)
        events = parse_number(text["events"], at("events"), nonnegative=True, integer=True)
        if not math.isnan(events) and not math.isnan(n) and events > n:
            raise at("events").error(f"events ({text['events']}) exceed n ({text['n']})", fix="check both numbers against the source")
        check_level(level, text["ci_level"], at("ci_level"))
        y = se = math.nan
        if math.isnan(ratio):
            for c in ("ci_lower", "ci_upper", "p_value"):
                if text[c]:
                    raise at(c).error(f"'{c}' is given but '{col}' is empty: an empty {col} marks the study's reference arm",
                                      fix=f"type the {code} as well, or clear this cell on the reference arm's row")
        else:
            if math.isnan(lower) or math.isnan(upper):
                missing = "ci_upper" if math.isnan(upper) else "ci_lower"
                raise at(missing).error(f"the {code} needs both CI bounds", fix=f"type '{missing}' as the source prints it")
            texts = (text[col], text["ci_lower"], text["ci_upper"])
            check_ci(ratio, lower, upper, texts, at, code=code, column=col, stacklevel=3)
            if text["p_value"]:
                check_p_against_ci(text["p_value"], ratio, lower, upper, level, texts, at, code=code, stacklevel=3)
            y, se = math.log(ratio), se_from_ci(lower, upper, level)
        records.append({"study": text["study"], "treatment": text["treatment"], "y": y, "se": se, "n": n,
                        col: ratio, "ci_lower": lower, "ci_upper": upper, "ci_level": level if not math.isnan(ratio) else math.nan,
                        "p_value": text["p_value"], "events": events,
                        ROW: int(rec[ROW]) if ROW in df else (idx if in_memory else pos + 2)})
    out = pd.DataFrame(records)
    for study, g in out.groupby("study", sort=False):
        refs = g[g["y"].isna()]
        first = g[ROW].iloc[0]
        if len(refs) != 1:
            where_ = f"row {first} of df" if in_memory else None
            msg = (f"study '{study}' has {len(refs)} reference rows (rows with an empty {col}); exactly one is needed, "
                   "the arm the others are compared with")
            fix = (f"leave {col} empty on the reference arm's row only" if len(refs)
                   else f"add a row for the study's reference arm with {col} empty")
            if in_memory:
                raise EvidenceError(msg, file=where_, column=col, fix=fix)
            raise EvidenceError(msg, file=name, row=int(first), column=col, fix=fix)
        arms = g[g["y"].notna()]
        ref = refs.index[0]
        se0, assumed = reference_arm_se(list(arms["se"]), events=math.nan,
                                        variance=arm_log_variance(code, g.at[ref, "events"], g.at[ref, "n"]))
        out.at[ref, "se"] = se0
        if assumed:
            unit = {"HR": "log-hazard", "RaR": "log-rate", "OR": "log-odds", "RR": "log-risk"}.get(code, "log-scale")
            need = ("the reference arm's events and n in columns 'events' and 'n'" if code in ("OR", "RR")
                    else f"the reference arm's events in a column 'events' (its {unit} variance is then 1/events)")
            place_ = f"row {g.at[ref, ROW]} of df" if in_memory else f"{name}, row {g.at[ref, ROW]}"
            warnings.warn(f"{place_}: multi-arm study '{study}': the reference arm's {unit} variance (the covariance of the "
                          f"study's contrasts) is assumed to be {DEFAULT_REFERENCE_VARIANCE_FRACTION:g} x the smallest "
                          f"contrast variance (se {se0:.4f}). Fix: give {need}",
                          EvidenceWarning, stacklevel=3)
    if not out["n"].notna().any():
        out = out.drop(columns="n")
    if not out["events"].notna().any():
        out = out.drop(columns="events")
    if not (out["p_value"] != "").any():
        out = out.drop(columns="p_value")
    check_contrasts(out, name)
    _check_covariance(out, name)
    return out


def arm_log_variance(code: str, events: float, n: float) -> float:
    """Variance of one arm's log-hazard (1/events), log-rate (1/events), log-odds (1/events + 1/(n - events)) or
    log-risk (1/events - 1/n); NaN when the counts it needs are not given."""
    if math.isnan(events) or events <= 0:
        return math.nan
    if code in ("HR", "RaR"):
        return 1.0 / events
    if math.isnan(n) or events >= n:
        return math.nan
    return 1.0 / events + 1.0 / (n - events) if code == "OR" else 1.0 / events - 1.0 / n


# ---- a contrast table whose y look like ratios, not log-ratios ---------------------------------------------------

#: y (given as log-ratios) that are all in this open interval, with their median in RATIO_LIKE_MEDIAN, look like
#: ratios typed into y: a log-HR network whose every contrast is worse than HR 1.22 is rare; HRs typed as they are
#: printed sit around 1. Shipped analyses and test fixtures do not trigger it (tests/test_measures.py).
RATIO_LIKE_RANGE = (0.2, 5.0)
RATIO_LIKE_MEDIAN = (0.5, 2.0)


def looks_like_ratios(y) -> bool:
    """Two or more non-empty y, all in RATIO_LIKE_RANGE, median in RATIO_LIKE_MEDIAN."""
    y = np.asarray(y, float)
    y = y[~np.isnan(y)]
    if len(y) < 2:
        return False
    lo, hi = RATIO_LIKE_RANGE
    m_lo, m_hi = RATIO_LIKE_MEDIAN
    return bool(((y > lo) & (y < hi)).all() and m_lo < float(np.median(y)) < m_hi)


def warn_if_ratio_like(y, measure, source: str, stacklevel: int = 2) -> None:
    """EvidenceWarning when a ratio measure's y look like the ratios themselves rather than their logarithms."""
    if not measure.is_ratio or not looks_like_ratios(y):
        return
    y = np.asarray(y, float)
    y = y[~np.isnan(y)]
    code = measure.code
    warnings.warn(f"{source}: y looks like ratios ({code}), not log-ratios: all {len(y)} values lie between "
                  f"{y.min():g} and {y.max():g} (median {np.median(y):g}), which as log-{code}s would mean every "
                  f"treatment is {np.exp(y.min()):.2f} to {np.exp(y.max()):.2f} times its comparator. Fix: give "
                  f"log({code}) in y, or use Network.from_ratios / [data] ratios with {code.lower()}, ci_lower, ci_upper",
                  EvidenceWarning, stacklevel=stacklevel + 1)


def check_labels(labels, treatments, argument: str = "labels") -> dict[str, str]:
    """A {treatment id: label} mapping naming only treatments of the network, with non-empty string labels."""
    if labels is None:
        return {}
    if not hasattr(labels, "items"):
        raise NetworkDataError(f"{argument}= must be a mapping {{treatment id: label}}, got {type(labels).__name__}. "
                               "Fix: e.g. labels={'A': 'Drug A 10 mg'}")
    out = {}
    known = {str(t): t for t in treatments}
    for key, label in labels.items():
        if str(key) not in known:
            raise NetworkDataError(f"{argument}= names treatment '{key}', which is not in the network; "
                                   f"{closest(str(key), known)}. Fix: use the treatment ids of the data")
        if not isinstance(label, str) or not label.strip():
            raise NetworkDataError(f"{argument}= gives treatment '{key}' the label {label!r}. Fix: give a non-empty "
                                   "string")
        out[known[str(key)]] = label.strip()
    return out
