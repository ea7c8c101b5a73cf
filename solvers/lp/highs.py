"""HiGHS through highspy: a live model of a :class:`~solvers.lp.program.LinearProgram` for
solves and in-place updates, warm starts from a basis, and a silent HiGHS instance."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

try:
    import highspy
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"highspy (HiGHS) cannot be loaded: {exc}. A different HiGHS build loaded earlier in "
        f"this process (ortools bundles one, and pandapower imports ortools when installed) "
        f"clashes with highspy's; uninstall ortools or import highspy before pandapower."
    ) from exc

from solvers import cancel
from solvers.lp.program import (
    InfeasibleError,
    LinearProgram,
    LpSolution,
    concatenated,
    flatten_update,
)

#: model statuses that settle an LP (anything else, e.g. "Unknown", may be retried cold)
_DECIDED = {
    highspy.HighsModelStatus.kOptimal,
    highspy.HighsModelStatus.kInfeasible,
    highspy.HighsModelStatus.kUnbounded,
    highspy.HighsModelStatus.kUnboundedOrInfeasible,
}

#: serialises :func:`quiet_highs`: file descriptor 1 belongs to the whole process, so two threads
#: (service job workers) redirecting it at once would restore each other's /dev/null for good
_QUIET_CONSTRUCTION = threading.Lock()


def quiet_highs() -> highspy.Highs:
    """A ``highspy.Highs`` with its output off.

    HiGHS (1.16) prints its banner ("Running HiGHS ...") from C++ to the process's file
    descriptor 1 while an instance is constructed, before any option can be set, which would
    corrupt the command line's ``--json`` standard output. Descriptor 1 is pointed at
    /dev/null for the construction (one thread at a time), then ``output_flag`` is turned off.

    Returns
    -------
    highspy.Highs
        A silent instance.
    """
    with _QUIET_CONSTRUCTION:
        if sys.stdout is not None:
            sys.stdout.flush()  # what Python buffered belongs before, not in /dev/null
        try:
            saved = os.dup(1)
        except OSError:  # no descriptor 1 at all: there is nothing to protect
            highs = highspy.Highs()
        else:
            try:
                with open(os.devnull, "w") as sink:
                    os.dup2(sink.fileno(), 1)
                    highs = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
        highs.setOptionValue("output_flag", False)
    return highs


class _Interrupt:
    """HiGHS interrupt callback asking ``should_stop`` (holds no reference to the model, so a
    finished model is freed at once rather than by the cycle collector)."""

    def __init__(self) -> None:
        self.should_stop: cancel.StopCheck | None = None

    def __call__(self, event: highspy.HighsCallbackEvent) -> None:
        if self.should_stop is not None and self.should_stop():
            event.interrupt()


class HighsModel:
    """A live HiGHS model of a :class:`LinearProgram`, for solves and in-place updates."""

    def __init__(self, lp: LinearProgram, *, time_limit_s: float = 600.0) -> None:
        self.lp = lp
        self.run_s_total = 0.0  # HiGHS run time of every solve so far, failed ones included
        self._warm = False  # a starting basis was set for the next solve
        self._interrupt: _Interrupt | None = None  # the stop check's HiGHS callback, once set
        self.highs = quiet_highs()
        self.highs.setOptionValue("time_limit", float(time_limit_s))
        model = highspy.HighsLp()
        matrix = lp.matrix()
        model.num_col_ = lp.n_cols
        model.num_row_ = lp.n_rows
        model.col_cost_ = concatenated(lp.cost)
        model.col_lower_, model.col_upper_ = lp.col_bounds()
        model.row_lower_, model.row_upper_ = lp.row_bounds()
        model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        model.a_matrix_.start_ = matrix.indptr
        model.a_matrix_.index_ = matrix.indices
        model.a_matrix_.value_ = matrix.data
        status = self.highs.passModel(model)
        if status == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the linear program (passModel error)")

    def set_option(self, name: str, value: bool | int | float | str) -> None:
        """Set a HiGHS option (e.g. ``"solver"`` to ``"ipm"``)."""
        self.highs.setOptionValue(name, value)

    def set_col_bounds(
        self, index: np.ndarray, lower: float | np.ndarray, upper: float | np.ndarray
    ) -> None:
        """Change variable bounds in place."""
        flat, low, high = flatten_update(index, lower, upper)
        self.highs.changeColsBounds(len(flat), flat, low, high)

    def set_row_bounds(
        self, index: np.ndarray, lower: float | np.ndarray, upper: float | np.ndarray
    ) -> None:
        """Change row bounds (right-hand sides) in place."""
        flat, low, high = flatten_update(index, lower, upper)
        self.highs.changeRowsBounds(len(flat), flat, low, high)  # type: ignore[attr-defined]

    def set_costs(self, index: np.ndarray, cost: float | np.ndarray) -> None:
        """Change objective coefficients in place."""
        flat, values = flatten_update(index, cost)
        self.highs.changeColsCost(len(flat), flat, values)

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        """Column and row basis status codes after a solve (``BASIS_*``)."""
        basis = self.highs.getBasis()
        return (
            np.array(list(map(int, basis.col_status)), dtype=np.int8),
            np.array(list(map(int, basis.row_status)), dtype=np.int8),
        )

    def set_basis(self, col_status: np.ndarray, row_status: np.ndarray) -> None:
        """Start the next solve from this basis (repaired by HiGHS if it is not square)."""
        basis = highspy.HighsBasis()
        status = [highspy.HighsBasisStatus(code) for code in range(4)]
        basis.col_status = [status[code] for code in np.asarray(col_status).tolist()]
        basis.row_status = [status[code] for code in np.asarray(row_status).tolist()]
        basis.alien = True
        basis.valid = True
        if self.highs.setBasis(basis) == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the starting basis")
        self._warm = True

    def _watch_stop(self) -> None:
        """Make the running block's stop check (:func:`solvers.cancel.stop_when`) HiGHS's
        simplex and IPM interrupt callback for the next run."""
        cancel.checkpoint("before the HiGHS solve")
        should_stop = cancel.current()
        if self._interrupt is None:
            if should_stop is None:
                return
            self._interrupt = _Interrupt()
            self.highs.cbSimplexInterrupt.subscribe(self._interrupt)
            self.highs.cbIpmInterrupt.subscribe(self._interrupt)
        self._interrupt.should_stop = should_stop

    def _run(self) -> highspy.HighsModelStatus:
        self.highs.run()
        status = self.highs.getModelStatus()
        if status == highspy.HighsModelStatus.kInterrupt:
            self._warm = False
            raise cancel.SolveCancelled("the HiGHS solve was stopped on request")
        return status

    def solve(self) -> LpSolution:
        """Run HiGHS; raise :class:`InfeasibleError` unless the status is optimal.

        Raises
        ------
        SolveCancelled
            The stop check of the running block answered true: before the solve, or during
            it (checked at every simplex or IPM iteration; HiGHS stops within milliseconds).
        """
        start = time.perf_counter()
        self._watch_stop()
        try:
            status = self._run()
            if status not in _DECIDED and self._warm:
                # a starting basis is a hint: when HiGHS cannot finish from it, start afresh
                self.highs.clearSolver()
                status = self._run()
        finally:
            self.run_s_total += time.perf_counter() - start
        self._warm = False
        elapsed = time.perf_counter() - start
        if status != highspy.HighsModelStatus.kOptimal:
            raise InfeasibleError(self.highs.modelStatusToString(status))
        solution = self.highs.getSolution()
        return LpSolution(
            x=np.asarray(solution.col_value),
            row_dual=np.asarray(solution.row_dual),
            objective=float(self.highs.getInfo().objective_function_value)
            + self.lp.objective_constant,
            status="optimal",
            solve_s=elapsed,
        )
