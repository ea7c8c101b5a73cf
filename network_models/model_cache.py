"""Typed cache of the models compiled from a feeder's net (see :attr:`Feeder.model_cache
<network_models.feeder.Feeder>`).

A cache entry is named by a :class:`CacheKey`, which also says the type of its value; the key
is declared by the module that compiles the value (e.g. ``solvers.acmodel.AC_MODEL_CACHE_KEY``),
so this package knows nothing of what is cached in it. The feeder clears the cache whenever its
net changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class CacheKey(Generic[T]):
    """The name of a cache entry and the type of its value."""

    name: str
    kind: type[T]


class ModelCache(dict[CacheKey[Any], Any]):
    """Compiled models of one feeder by :class:`CacheKey` (a dict, typed through its methods)."""

    def entry(self, key: CacheKey[T]) -> T | None:
        """The value under ``key``, or ``None`` when there is none of its type."""
        value = self.get(key)
        return value if isinstance(value, key.kind) else None

    def cached(self, key: CacheKey[T], build: Callable[[], T]) -> T:
        """The value under ``key``, built by ``build()`` and kept on first use."""
        value = self.entry(key)
        if value is None:
            value = build()
            self[key] = value
        return value
