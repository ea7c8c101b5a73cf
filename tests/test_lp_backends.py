"""The LP builder and its two HiGHS backends: highspy (direct) and Pyomo (persistent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridderms.ders.inventory import read_der_file
from gridderms.dispatch.feeder_dispatch import dispatch_feeder
from gridderms.dispatch.horizon import Horizon
from network_models.loaders import load_feeder
from solvers.limits import OperatingLimits
from solvers.lp.highs import HighsModel
from solvers.lp.program import InfeasibleError, LinearProgram
from solvers.lp.pyomo import PyomoHighsModel

SCENARIO = "scenarios/baran_wu_pv.csv"


def _knapsack() -> LinearProgram:
    """max x + 2y  s.t.  x + y <= 4,  x <= 3,  y <= 3,  x, y >= 0  ->  x = 1, y = 3."""
    lp = LinearProgram()
    x = lp.add_variables("x", (2,), 0.0, 10.0, cost=np.array([-1.0, -2.0]))
    lp.add_constraints("sum", (1,), np.array([0, 0]), x, np.ones(2), upper=4.0)
    lp.add_constraints("caps", (2,), np.arange(2), x, np.ones(2), upper=np.array([3.0, 3.0]))
    return lp


@pytest.mark.parametrize("backend", [HighsModel, PyomoHighsModel])
def test_solve_update_resolve_and_infeasibility(backend) -> None:
    lp = _knapsack()
    model = backend(lp)
    first = model.solve()
    assert first.values(lp.variables["x"]) == pytest.approx([1.0, 3.0])
    assert first.objective == pytest.approx(-7.0)
    assert first.duals(lp.rows["sum"])[0] == pytest.approx(-1.0)
    model.set_row_bounds(lp.rows["sum"].index(), -np.inf, 5.0)  # persistent change
    assert model.solve().values(lp.variables["x"]) == pytest.approx([2.0, 3.0])
    model.set_costs(lp.variables["x"].index(), np.array([-3.0, -1.0]))
    assert model.solve().values(lp.variables["x"]) == pytest.approx([3.0, 2.0])
    model.set_col_bounds(lp.variables["x"].index(), np.array([4.0, 0.0]), 10.0)  # x >= 4 > 3
    with pytest.raises(InfeasibleError):
        model.solve()


def test_builder_rejects_rows_outside_the_family() -> None:
    lp = LinearProgram()
    x = lp.add_variables("x", (2,))
    with pytest.raises(ValueError, match="row position outside"):
        lp.add_constraints("bad", (1,), np.array([0, 1]), x, np.ones(2))
    with pytest.raises(ValueError, match="exists already"):
        lp.add_variables("x", (1,))


@pytest.mark.parametrize("formulation", ["lindistflow", "linearized-ac"])
def test_pyomo_backend_gives_the_same_dispatch(cache_dir, formulation) -> None:
    feeder = load_feeder("baran-wu-33", cache_dir=cache_dir)
    ders = read_der_file(SCENARIO)
    horizon = Horizon(pd.Timestamp("2026-06-21 10:00"), 4, 60)
    limits = OperatingLimits(0.90, 1.02, 100.0)
    direct = dispatch_feeder(feeder, ders, horizon, limits=limits, formulation=formulation)
    via_pyomo = dispatch_feeder(
        feeder, ders, horizon, limits=limits, formulation=formulation, backend="pyomo"
    )
    assert direct.ac_feasible and via_pyomo.ac_feasible
    assert via_pyomo.iterations == direct.iterations
    assert via_pyomo.objective_value == pytest.approx(direct.objective_value, abs=1e-6)
    # the same curtailment in every period; reactive power costs nothing, so the two solvers
    # (highspy starts from a crash basis, Pyomo from HiGHS's own) may pick different Q
    p_direct = direct.schedule.groupby("period").p_mw.sum().to_numpy()
    p_pyomo = via_pyomo.schedule.groupby("period").p_mw.sum().to_numpy()
    assert p_pyomo == pytest.approx(p_direct, abs=1e-6)
    assert via_pyomo.network.max_vm_pu.max() <= limits.vm_max_pu + 1e-3
