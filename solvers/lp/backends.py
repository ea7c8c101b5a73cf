"""The LP backends by name, and warm starts where the backend takes a basis."""

from __future__ import annotations

from solvers.lp.highs import HighsModel
from solvers.lp.program import LinearProgram, LpSolver, carry_basis, starting_basis
from solvers.lp.pyomo import PyomoHighsModel

#: ``"highspy"``: the LP passed to HiGHS in one call; ``"pyomo"``: a Pyomo model through Pyomo's
#: persistent HiGHS interface
BACKENDS = ("highspy", "pyomo")


def lp_solver(lp: LinearProgram, backend: str) -> LpSolver:
    """A live model of ``lp`` on ``backend`` (one of :data:`BACKENDS`)."""
    if backend == "highspy":
        return HighsModel(lp)
    if backend == "pyomo":
        return PyomoHighsModel(lp)
    raise ValueError(f"unknown LP backend '{backend}'; use 'highspy' or 'pyomo'")


def start_cold(solver: LpSolver, lp: LinearProgram) -> None:
    """Start ``solver`` from the crash basis of :func:`~solvers.lp.program.starting_basis`
    (backends without a basis interface start as they do)."""
    if isinstance(solver, HighsModel):
        solver.set_basis(*starting_basis(lp))


def start_from(
    solver: LpSolver, lp: LinearProgram, previous: LpSolver, previous_lp: LinearProgram
) -> None:
    """Start ``solver`` from the last optimal basis of ``previous``, a similar LP (see
    :func:`~solvers.lp.program.carry_basis`), when both backends take a basis."""
    if isinstance(previous, HighsModel) and isinstance(solver, HighsModel):
        solver.set_basis(*carry_basis(previous_lp, *previous.basis(), lp))
