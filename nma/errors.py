"""Exception and warning types. Every message says what is wrong, where, and how to fix it."""

from __future__ import annotations

import re
from dataclasses import dataclass


class NMAError(Exception):
    """Base class for everything nma raises on purpose."""


class EvidenceError(NMAError, ValueError):
    """A data file (evidence, treatments, sources, contrasts) is malformed or inconsistent."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, value: object = None, fix: str | None = None):
        self.file, self.row, self.column, self.value, self.fix = file, row, column, value, fix
        where = []
        if file is not None:
            where.append(f"{file}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        text = (", ".join(where) + ": " if where else "") + message
        if value is not None:
            text += f" (value: {value!r})"
        if fix:
            text += f". Fix: {fix}"
        super().__init__(text)


class NetworkDataError(NMAError, ValueError):
    """The selected evidence cannot form a valid treatment network."""


class UnknownTreatmentError(NetworkDataError):
    """An argument names a treatment the network does not have; `argument`, `value` and `valid` let the command
    line re-raise it with the config key that set the argument."""

    def __init__(self, message: str, *, argument: str, value: object, valid: tuple, source: str = ""):
        self.argument, self.value, self.valid, self.source = argument, value, tuple(valid), source
        super().__init__(message)


class ConfigError(NMAError, ValueError):
    """An analysis config (TOML) is malformed or names something that does not exist."""


class ModelSpecError(NMAError, ValueError):
    """The model specification (effects, priors) is invalid or inconsistent with the network."""


class ConvergenceError(NMAError, RuntimeError):
    """The sampler's diagnostics fail the convergence gate, so the fit is not reported."""


class EvidenceWarning(UserWarning):
    """Evidence is usable but suspicious (asymmetric CI, p-value mismatch, assumed variance)."""


class ModelWarning(UserWarning):
    """Defaults were used, or a parameter (e.g. tau) is not identified by the data."""


class ConvergenceWarning(UserWarning):
    """Diagnostics are poor but the user allowed unconverged output."""


class OutputPathError(NMAError, ValueError):
    """An output folder is outside the project, reached through a symlink, or would replace something not nma's."""


# Warnings a reader should see first. Notes reach warnings.txt and the report as text (from selection, the fit and the
# checks), so their kind is read from the text's stable prefixes and phrases, in one place.

#: Severity levels, highest first: "key" changes how the results are read (shown at the top of the report), "warning"
#: qualifies them, "note" records a routine decision or a diagnostic that appears in most analyses.
SEVERITIES = ("key", "warning", "note")

_KINDS = (  # (phrase in the text, kind, severity); the first match wins
    ("UNCONVERGED", "unconverged", "key"),
    ("failed the convergence gate", "unconverged", "key"),
    ("tau is not identified", "tau not identified", "key"),
    ("direct and indirect evidence disagree", "inconsistency", "key"),
    ("Sensitivity: the ranking", "sensitivity moves the ranking", "key"),
    ("Inconsistency:", "inconsistency check", "note"),
    ("PSIS-LOO", "PSIS-LOO", "note"),
    ("no rows for population", "selection", "warning"),
    ("Prior distributions were left at default", "default priors", "warning"),
    ("EvidenceWarning", "evidence", "warning"),
    ("ModelWarning", "model", "warning"),
)


@dataclass(frozen=True)
class RankedWarning:
    """One distinct warning: its text (merged when several notes say the same thing), kind, severity and count."""

    text: str
    kind: str
    severity: str
    count: int = 1

    @property
    def label(self) -> str:
        """The text with its count when it was raised more than once."""
        return self.text if self.count == 1 else f"{self.text} (x{self.count})"


def classify_warning(text: str) -> tuple[str, str]:
    """(kind, severity) of a warning's text; an unrecognised one is a "warning" of kind "other"."""
    for phrase, kind, severity in _KINDS:
        if phrase in text:
            return kind, severity
    return "other", "warning"


_POPULATION = re.compile(r"^(?P<trial>[^:]+): no rows for population '(?P<population>[^']*)'")


def rank_warnings(notes) -> tuple[RankedWarning, ...]:
    """Distinct warnings, highest severity first (then in the order first raised), each once with its count.

    Identical texts are merged; "<trial>: no rows for population 'X' ..." notes are merged into one line per population
    naming the trials ("14 trials had no rows for population 'X': A, B, ...").

    Parameters
    ----------
    notes : iterable of str
        Warning texts as written to ``warnings.txt``.

    Returns
    -------
    tuple of RankedWarning
    """
    groups: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for note in map(str, notes):
        m = _POPULATION.match(note)
        key = f"population:{m['population']}" if m else note
        groups.setdefault(key, []).append(m["trial"].strip() if m else note)
        texts.setdefault(key, note)
    out = []
    for key, members in groups.items():
        kind, severity = classify_warning(texts[key])
        if key.startswith("population:") and len(members) > 1:
            trials = list(dict.fromkeys(members))
            text = (f"{len(trials)} trials had no rows for population '{key.split(':', 1)[1]}' and are not included: "
                    f"{', '.join(trials)}. To include one, set [data.trials.<trial>] population")
            out.append(RankedWarning(text, kind, severity, len(trials)))
        else:
            out.append(RankedWarning(texts[key], kind, severity, len(members)))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return tuple(sorted(out, key=lambda w: order[w.severity]))   # stable: first-raised order within a severity


def warnings_text(notes) -> str:
    """warnings.txt: one line per distinct warning, "[severity] text (xN)", highest severity first."""
    return "".join(f"[{w.severity}] {w.label}\n" for w in rank_warnings(notes))
