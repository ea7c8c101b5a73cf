"""Errors raised while loading, validating, tracing or switching a feeder model.

Every error names the element table, the element id and the problem, so the CLI and the API can
show the message as it is, without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ValidationIssue:
    """One failed validation check on one element.

    Attributes
    ----------
    check : str
        Name of the failed check, e.g. ``"unknown_bus_reference"``.
    element : str
        pandapower element table, e.g. ``"line"``.
    element_id : object
        Index of the element in its table.
    message : str
        What is wrong, with the values and units involved.
    """

    check: str
    element: str
    element_id: object
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.element} {self.element_id}: {self.message}"


class FeederError(Exception):
    """Base class of every feeder-model error; ``str(error)`` is the user-facing message."""


class FeederNotFoundError(FeederError):
    """The feeder source is neither a built-in name nor an existing file."""


class FeederFileError(FeederError):
    """A feeder file exists but cannot be read or parsed."""


class FeederValidationError(FeederError):
    """One or more validation checks failed; ``issues`` lists every failure."""

    def __init__(self, source: str, issues: list[ValidationIssue]) -> None:
        self.source = source
        self.issues = issues
        shown = "\n".join(f"  - {issue}" for issue in issues[:20])
        more = f"\n  ... and {len(issues) - 20} more" if len(issues) > 20 else ""
        super().__init__(
            f"feeder '{source}' failed validation ({len(issues)} problem"
            f"{'s' if len(issues) != 1 else ''}):\n{shown}{more}"
        )


class UnknownElementError(FeederError, KeyError):
    """An operation referenced an element id that does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class SwitchingError(FeederError):
    """A switching operation cannot be carried out (unknown switch, already in that state...)."""


class DeenergizedBusError(FeederError):
    """A bus is in service but not connected to any source (ext_grid or slack generator)."""
