"""AC refinement of a hosting capacity: bracket the largest feasible size by AC power flow.

Starting from the linear (LP) estimate, a safeguarded secant search on the AC limit margin
closes a bracket ``[feasible, infeasible]`` until it is narrower than the tolerance; the lower
end is the reported capacity (AC-feasible), the upper end is the AC check "just above" it,
whose worst limit is the binding constraint. A good start needs two or three power flows;
bisection takes over whenever the secant step does not shrink the bracket.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solvers.hosting_capacity.ac_check import Check
from solvers.limits import LimitBreach

#: the outcome of a search that reaches the study's cap
NOTHING_BINDS = LimitBreach("none", "", -1, "", 0.0, 0.0, source="hosting_capacity")
#: power flows at most per bus before the search gives up (then it raises)
MAX_CHECKS = 60


@dataclass(frozen=True)
class Tolerance:
    """Width of the final bracket: ``max(relative * capacity, absolute_mw)``.

    Attributes
    ----------
    relative : float
        Relative part [-] (default 0.01: 1 %).
    absolute_mw : float
        Absolute floor [MW] (default 0.01: 10 kW).
    """

    relative: float = 0.01
    absolute_mw: float = 0.01

    def __post_init__(self) -> None:
        if not (self.relative >= 0.0 and self.absolute_mw > 0.0):
            raise ValueError(
                f"tolerance needs relative >= 0 and absolute_mw > 0, got {self.relative}, "
                f"{self.absolute_mw}"
            )

    def width_mw(self, p_mw: float) -> float:
        """Allowed bracket width at capacity ``p_mw`` [MW]."""
        return max(self.relative * p_mw, self.absolute_mw)


@dataclass(frozen=True)
class Refined:
    """AC-exact capacity: ``p_mw`` is feasible, ``p_above_mw`` (within tolerance) is not.

    ``binding`` is the worst limit at ``p_above_mw``; ``checks`` counts the power flows.
    """

    p_mw: float
    p_above_mw: float
    binding: LimitBreach
    checks: int


def refine(
    evaluate: Callable[[float], Check],
    start_mw: float,
    tolerance: Tolerance,
    cap_mw: float,
    at_zero: Check,
) -> Refined:
    """Largest ``p`` in ``[0, cap_mw]`` with ``evaluate(p).feasible``, to ``tolerance``.

    The next size comes from a per-limit secant: every limit's margin is interpolated
    (extrapolated while nothing is violated yet) between the two checks nearest the answer,
    and the first limit to reach zero sets the estimate. The check then lands 0.45 tolerance
    beyond the estimate on the side not yet bracketed, so an accurate estimate closes the
    bracket with the next check.

    Parameters
    ----------
    evaluate : callable
        AC check of a size [MW].
    start_mw : float
        First guess (the linear estimate) [MW].
    tolerance : Tolerance
    cap_mw : float
        Largest size searched [MW]; when it is feasible, the result is ``cap_mw`` with
        binding ``none``.
    at_zero : Check
        The operating point itself (feasible by construction of the limits).
    """
    lo_x, lo = 0.0, at_zero
    hi_x: float = math.inf
    hi: Check | None = None
    feasible_points = [(0.0, at_zero)]
    x = min(max(start_mw, tolerance.absolute_mw), cap_mw)
    last_width = math.inf
    for checks in range(1, MAX_CHECKS + 1):
        result = evaluate(x)
        if result.feasible:
            lo_x, lo = x, result
            feasible_points.append((x, result))
            if x >= cap_mw:
                return Refined(cap_mw, math.inf, NOTHING_BINDS, checks)
        else:
            hi_x, hi = x, result
        if hi is not None and hi_x - lo_x <= tolerance.width_mw(lo_x):
            return Refined(lo_x, hi_x, hi.binding, checks)
        root = _estimate(lo_x, lo, hi_x, hi, feasible_points, cap_mw)
        step = 0.45 * tolerance.width_mw(root)
        x = root + step if result.feasible else root - step
        if math.isfinite(hi_x):
            if hi_x - lo_x > 0.5 * last_width:
                x = 0.5 * (lo_x + hi_x)  # the secant stalls: bisect
            inner = 0.02 * (hi_x - lo_x)
            x = min(max(x, lo_x + inner), hi_x - inner)
            last_width = hi_x - lo_x
        else:
            x = min(max(x, lo_x + tolerance.absolute_mw), cap_mw)
    raise RuntimeError(
        f"hosting-capacity search did not close within {MAX_CHECKS} power flows "
        f"(bracket {lo_x:.4f} .. {hi_x:.4f} MW)"
    )


def _estimate(
    lo_x: float,
    lo: Check,
    hi_x: float,
    hi: Check | None,
    feasible_points: list[tuple[float, Check]],
    cap_mw: float,
) -> float:
    """Size at which the first limit reaches its bound, by per-limit linear interpolation."""
    if hi is not None and hi.margins is not None and lo.margins is not None:
        crossing = hi.margins > 0.0
        slope = (hi.margins[crossing] - lo.margins[crossing]) / (hi_x - lo_x)
        roots = lo_x - lo.margins[crossing] / np.where(slope > 0.0, slope, np.inf)
        return float(min(max(roots.min(initial=hi_x), lo_x), hi_x))
    (a_x, a), (b_x, b) = feasible_points[-2], feasible_points[-1]
    if a.margins is None or b.margins is None or b_x <= a_x:
        return min(2.0 * b_x, cap_mw) if math.isinf(hi_x) else 0.5 * (lo_x + hi_x)
    slope = (b.margins - a.margins) / (b_x - a_x)
    rising = slope > 0.0
    if not rising.any():
        return min(2.0 * b_x, cap_mw) if math.isinf(hi_x) else 0.5 * (lo_x + hi_x)
    root = float((b_x - b.margins[rising] / slope[rising]).min())
    if math.isinf(hi_x):
        return min(max(root, b_x), 4.0 * b_x + 1.0, cap_mw)
    return min(max(root, lo_x), hi_x)
