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

from scipy import stats

from nma.core.tables import decimals
from nma.errors import EvidenceError, EvidenceWarning

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
                     fraction: float = DEFAULT_REFERENCE_VARIANCE_FRACTION) -> tuple[float, bool]:
    """The multi-arm covariance rule: the SE of the reference arm's log-hazard (the covariance of a study's
    contrasts) is 1/sqrt(events) when the reference arm's events are known, else sqrt(fraction x the smallest
    contrast variance). Returns (se, assumed): `assumed` is True when the fraction was used (say so to the user).
    A two-arm study needs none (NaN)."""
    if len(contrast_se) < 2:
        return math.nan, False
    if not math.isnan(events) and events > 0:
        return 1.0 / math.sqrt(events), False
    return math.sqrt(fraction * min(se**2 for se in contrast_se)), True
