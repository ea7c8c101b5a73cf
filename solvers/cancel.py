"""Cooperative cancellation of long solver work (dispatch builds, HiGHS solves, AC loops).

The caller states how to tell that the work should stop, a ``should_stop()`` callable, for a
block of work (:func:`stop_when`); the long loops inside call :func:`checkpoint` (or iterate
through :func:`each`), and the HiGHS solve installs ``should_stop`` as its simplex / IPM
interrupt callback (:class:`solvers.lp.highs.HighsModel`). When ``should_stop()`` answers true,
:class:`SolveCancelled` is raised from the next checkpoint and the work unwinds.

``should_stop`` is called often (every simplex iteration, every period of a loop): it must be
cheap, e.g. cache its answer for a fraction of a second. The callable lives in a context
variable, so each thread (each service job) has its own and code without one pays one lookup
per checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

StopCheck = Callable[[], bool]
T = TypeVar("T")

_STOP: ContextVar[StopCheck | None] = ContextVar("solvers_should_stop", default=None)


class SolveCancelled(Exception):  # noqa: N818 - the name the callers know (not an error)
    """The work was asked to stop (its ``should_stop()`` answered true)."""


@contextmanager
def stop_when(should_stop: StopCheck | None) -> Iterator[None]:
    """Run the block with ``should_stop`` as the stop check (``None``: keep the current one)."""
    if should_stop is None:
        yield
        return
    token = _STOP.set(should_stop)
    try:
        yield
    finally:
        _STOP.reset(token)


def current() -> StopCheck | None:
    """The stop check of the running block, if any."""
    return _STOP.get()


def checkpoint(where: str = "") -> None:
    """Raise :class:`SolveCancelled` when the running block's stop check answers true.

    Raises
    ------
    SolveCancelled
    """
    should_stop = _STOP.get()
    if should_stop is not None and should_stop():
        raise SolveCancelled(f"stopped{' ' + where if where else ''} on request")


def each(items: Iterable[T], where: str = "") -> Iterator[T]:
    """The items of ``items``, with a :func:`checkpoint` before each."""
    for item in items:
        checkpoint(where)
        yield item
