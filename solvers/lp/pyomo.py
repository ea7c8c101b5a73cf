"""The dispatch LP as a Pyomo model, solved through Pyomo's persistent HiGHS interface.

The same :class:`~solvers.lp.program.LinearProgram` the highspy backend passes to HiGHS in one call
becomes a Pyomo model here: one variable per column, one constraint per row with its bounds as
mutable parameters, the costs as mutable parameters. A re-solve after changed bounds or costs
goes through Pyomo's persistent update (only the changed parameters reach HiGHS). It gives the
same solutions; the dispatch benchmark measures what building and passing the model through
Pyomo costs against the direct path.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs
from pyomo.core.expr.numeric_expr import LinearExpression

from solvers.lp.program import InfeasibleError, LinearProgram, LpSolution, flatten_update


class PyomoHighsModel:
    """A Pyomo model of a :class:`LinearProgram` with HiGHS behind Pyomo's persistent interface.

    Same methods as :class:`solvers.lp.highs.HighsModel`.
    """

    def __init__(self, lp: LinearProgram, *, time_limit_s: float = 600.0) -> None:
        self.lp = lp
        self.run_s_total = 0.0
        self.time_limit_s = time_limit_s
        start = time.perf_counter()
        model = pyo.ConcreteModel()
        columns = range(lp.n_cols)
        rows = range(lp.n_rows)
        col_lower, col_upper = lp.col_bounds()
        row_lower, row_upper = lp.row_bounds()
        model.x = pyo.Var(columns)
        for j in columns:
            model.x[j].setlb(_finite_or_none(col_lower[j]))
            model.x[j].setub(_finite_or_none(col_upper[j]))
        model.row_lower = pyo.Param(rows, mutable=True, initialize=dict(enumerate(row_lower)))
        model.row_upper = pyo.Param(rows, mutable=True, initialize=dict(enumerate(row_upper)))
        model.cost = pyo.Param(
            columns,
            mutable=True,
            initialize=dict(enumerate(np.concatenate(lp.cost) if lp.cost else np.zeros(0))),
        )
        matrix = lp.matrix().tocsr()
        x = model.x
        self.row_index: list[int] = []

        def row_rule(_: pyo.ConcreteModel, i: int) -> object:
            start_, end = matrix.indptr[i], matrix.indptr[i + 1]
            if start_ == end:
                return pyo.Constraint.Skip
            expression = LinearExpression(
                constant=0.0,
                linear_coefs=matrix.data[start_:end].tolist(),
                linear_vars=[x[j] for j in matrix.indices[start_:end]],
            )
            return (model.row_lower[i], expression, model.row_upper[i])

        model.rows = pyo.Constraint(rows, rule=row_rule)
        model.objective = pyo.Objective(
            expr=LinearExpression(
                constant=lp.objective_constant,
                linear_coefs=[model.cost[j] for j in columns],
                linear_vars=[x[j] for j in columns],
            )
        )
        self.model = model
        self.solver = Highs()
        self.build_s = time.perf_counter() - start

    def set_option(self, name: str, value: bool | int | float | str) -> None:
        """Set a HiGHS option."""
        self.solver.config.solver_options[name] = value

    def set_col_bounds(
        self, index: np.ndarray, lower: float | np.ndarray, upper: float | np.ndarray
    ) -> None:
        """Change variable bounds (picked up by the next persistent update)."""
        flat, low, high = flatten_update(index, lower, upper)
        for j, lo, hi in zip(flat, low, high, strict=True):
            self.model.x[int(j)].setlb(_finite_or_none(lo))
            self.model.x[int(j)].setub(_finite_or_none(hi))

    def set_row_bounds(
        self, index: np.ndarray, lower: float | np.ndarray, upper: float | np.ndarray
    ) -> None:
        """Change row bounds through their mutable parameters."""
        flat, low, high = flatten_update(index, lower, upper)
        for i, lo, hi in zip(flat, low, high, strict=True):
            self.model.row_lower[int(i)] = lo
            self.model.row_upper[int(i)] = hi

    def set_costs(self, index: np.ndarray, cost: float | np.ndarray) -> None:
        """Change objective coefficients through their mutable parameters."""
        flat, values = flatten_update(index, cost)
        for j, value in zip(flat, values, strict=True):
            self.model.cost[int(j)] = value

    def solve(self) -> LpSolution:
        """Solve (or re-solve after updates); raise :class:`InfeasibleError` unless optimal."""
        start = time.perf_counter()
        results = self.solver.solve(
            self.model,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
            time_limit=self.time_limit_s,
        )
        elapsed = time.perf_counter() - start
        self.run_s_total += elapsed
        if results.termination_condition != TerminationCondition.convergenceCriteriaSatisfied:
            raise InfeasibleError(str(results.termination_condition))
        primals = results.solution_loader.get_vars()
        x = np.array([primals[self.model.x[j]] for j in range(self.lp.n_cols)])
        duals = results.solution_loader.get_duals()
        row_dual = np.zeros(self.lp.n_rows)
        for i, constraint in self.model.rows.items():
            row_dual[i] = duals.get(constraint, 0.0)
        return LpSolution(
            x=x,
            row_dual=row_dual,
            objective=float(results.incumbent_objective),
            status="optimal",
            solve_s=elapsed,
        )


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
