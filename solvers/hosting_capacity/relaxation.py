"""Limits of a hosting-capacity study relaxed at its operating point.

The limits themselves are :class:`solvers.limits.StudyLimits` (a voltage band per bus, a
thermal limit per branch, the feeder's own values where it sets them). A limit that the
operating point already violates cannot be *met* by adding DER; such a limit may not get worse:
it is relaxed to its value at the operating point (plus :data:`RELAX_MARGIN_PU` /
:data:`RELAX_MARGIN_PERCENT` of numerical tolerance) and the relaxation is reported.
"""

from __future__ import annotations

import numpy as np

#: tolerance added to a voltage limit relaxed to an already violating operating point [pu]
RELAX_MARGIN_PU = 1e-6
#: tolerance added to a thermal limit relaxed to an already overloaded branch [%]
RELAX_MARGIN_PERCENT = 1e-4


def relax_upper(limit: np.ndarray, value: np.ndarray, margin: float) -> np.ndarray:
    """``limit`` where ``value`` meets it, else ``value + margin`` (may not get worse)."""
    return np.where(value > limit, value + margin, limit)


def relax_lower(limit: np.ndarray, value: np.ndarray, margin: float) -> np.ndarray:
    """``limit`` where ``value`` meets it, else ``value - margin`` (may not get worse)."""
    return np.where(value < limit, value - margin, limit)
