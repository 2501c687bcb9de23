"""Exception and warning types. Every message says what is wrong, where, and how to fix it."""

from __future__ import annotations


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
