"""Errors raised by the DER registry, its importers and the reactive-capability functions.

Every error message names the DER id, the group, the file (with row or item number) and the
field involved, so the CLI and the API can show ``str(error)`` as it is, without a traceback.

Record construction itself (``PvSystem(...)`` and friends) raises ``pydantic.ValidationError``;
the importers translate those into :class:`DerImportError`.
"""

from __future__ import annotations

from collections.abc import Sequence


class DerError(Exception):
    """Base class of every DER-registry error; ``str(error)`` is the user-facing message."""


class _PlainKeyError(KeyError):
    """A ``KeyError`` whose ``str()`` is its plain message (``KeyError`` would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0])


class DerImportError(DerError):
    """A DER source (pandapower net, CSV or JSON file) cannot be read or holds an invalid DER."""


class DuplicateDerError(DerError):
    """A DER id is already registered."""

    def __init__(self, der_id: str) -> None:
        self.der_id = der_id
        super().__init__(f"DER '{der_id}' is already registered")


class UnknownDerError(DerError, _PlainKeyError):
    """A DER id is not registered.

    Also a ``KeyError`` so that mapping-style code can catch it; ``str()`` is the plain message
    (``KeyError`` would otherwise quote it).
    """

    def __init__(self, der_id: str, *, context: str | None = None) -> None:
        self.der_id = der_id
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}unknown DER '{der_id}'")


class DerBusError(DerError):
    """One or more DERs reference a bus that does not exist in the feeder.

    Attributes
    ----------
    missing : tuple[tuple[str, int], ...]
        ``(der_id, bus)`` for every DER whose bus is unknown, in registry order.
    """

    def __init__(self, missing: Sequence[tuple[str, int]]) -> None:
        self.missing = tuple(missing)
        listed = ", ".join(f"'{der_id}' (bus {bus})" for der_id, bus in self.missing[:20])
        more = f", ... and {len(self.missing) - 20} more" if len(self.missing) > 20 else ""
        count = len(self.missing)
        super().__init__(
            f"{count} DER{'s reference' if count != 1 else ' references'} a bus that does not "
            f"exist in the "
            f"feeder: {listed}{more}"
        )


class DerGroupError(DerError):
    """A DER group cannot be created as requested (bad selector, unknown member...)."""


class UnknownGroupError(DerGroupError, _PlainKeyError):
    """A group name is not defined; also a ``KeyError`` with a plain ``str()``."""

    def __init__(self, name: str) -> None:
        self.group_name = name
        super().__init__(f"unknown DER group '{name}'")


class DuplicateGroupError(DerGroupError):
    """A group name is already in use."""

    def __init__(self, name: str) -> None:
        self.group_name = name
        super().__init__(f"DER group '{name}' already exists")


class CapabilityError(DerError, ValueError):
    """A reactive-capability calculation got an invalid operating point (NaN, inf)."""
