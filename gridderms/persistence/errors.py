"""Errors of the repositories: a row asked for by its public id does not exist
(:func:`one_or_raise`), a row added breaks a unique constraint (:func:`add_unique`)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session

T = TypeVar("T")


class RecordNotFoundError(LookupError):
    """A row looked up by its public id does not exist; ``str()`` names kind and id."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} '{ident}' not found")

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateRowError(LookupError):
    """A row added breaks a unique constraint (its name or id is taken); the session is
    rolled back."""


def add_unique(session: Session, row: DeclarativeBase) -> None:
    """Add ``row`` and flush it.

    Raises
    ------
    DuplicateRowError
        A unique constraint refuses it (the session is rolled back).
    """
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise DuplicateRowError(type(row).__name__) from None


def one_or_raise(session: Session, query: Select[tuple[T]], kind: str, ident: Any) -> T:
    """The one row ``query`` selects.

    Raises
    ------
    RecordNotFoundError
        It selects none (``kind`` and ``ident`` name what was looked for).
    """
    row = session.scalars(query).one_or_none()
    if row is None:
        raise RecordNotFoundError(kind, ident)
    return row
