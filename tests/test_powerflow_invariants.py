"""Physics invariants of the AC power flow on every built-in feeder."""

from __future__ import annotations

import numpy as np
import pytest

from network_models.builtin import BUILTIN_FEEDERS
from network_models.loaders import load_feeder
from solvers.limits import OperatingLimits
from solvers.powerflow import PowerFlowError, run_powerflow

BALANCE_TOL_MW = 1e-5


@pytest.mark.parametrize("name", list(BUILTIN_FEEDERS))
def test_power_balance_closes_on_every_builtin_feeder(cache_dir, name) -> None:
    feeder = load_feeder(name, cache_dir=cache_dir)
    result = run_powerflow(feeder.net, name=name)
    assert result.converged
    # import + generation = load + storage + shunts + series losses
    assert abs(result.power_balance_mismatch_mw) < BALANCE_TOL_MW
    assert result.losses_mw > 0
    # branch losses are what the branches' two ends do not deliver
    net = feeder.net
    line = net.res_line[net.line.in_service]
    assert np.allclose(line.p_from_mw + line.p_to_mw, line.pl_mw, atol=1e-9)
    # every violation is real and every real violation is listed
    limits = result.limits
    vm = result.bus.vm_pu
    listed_buses = {v.element_id for v in result.violations if v.element == "bus"}
    assert listed_buses == set(vm.index[(vm < limits.vm_min_pu) | (vm > limits.vm_max_pu)])
    listed_lines = {v.element_id for v in result.violations if v.element == "line"}
    over = result.line.loading_percent > limits.max_loading_percent
    assert listed_lines == set(result.line.index[over])


def test_tighter_limits_add_violations_and_looser_remove_them(cache_dir) -> None:
    net = load_feeder("cigre-mv-der", cache_dir=cache_dir).net
    default = run_powerflow(net)
    tight = run_powerflow(net, limits=OperatingLimits(0.99, 1.01, 50.0))
    loose = run_powerflow(net, limits=OperatingLimits(0.90, 1.10, 120.0))
    assert len(tight.violations) > len(default.violations) > 0
    assert loose.violations == ()
    assert {v.kind for v in tight.violations} >= {"undervoltage", "overload"}


def test_operating_limits_reject_inverted_band() -> None:
    with pytest.raises(ValueError, match="vm_min_pu < vm_max_pu"):
        OperatingLimits(vm_min_pu=1.05, vm_max_pu=0.95)
    with pytest.raises(ValueError, match="finite"):
        OperatingLimits(vm_min_pu=float("nan"))


def test_overloaded_feeder_reports_nonconvergence(cache_dir) -> None:
    net = load_feeder("baran-wu-33", cache_dir=cache_dir).net
    net.load["scaling"] = 12.0  # ~45 MW on a 12.66 kV feeder: no solution exists
    with pytest.raises(PowerFlowError, match="did not converge"):
        run_powerflow(net)
