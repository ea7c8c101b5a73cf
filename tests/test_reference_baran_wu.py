"""Baran & Wu 33-bus base case against the published reference.

Source: M. E. Baran, F. F. Wu, "Network reconfiguration in distribution systems for loss
reduction and load balancing", IEEE Trans. Power Delivery 4(2), 1989: total active losses
202.7 kW, minimum voltage 0.9131 pu at bus 18 (index 17).
"""

from __future__ import annotations

import pytest

from network_models.loaders import load_feeder
from solvers.powerflow import run_powerflow

LOSSES_MW = 0.2027
LOSSES_TOL_MW = 5e-4  # +-0.5 kW
MIN_VM_PU = 0.9131
MIN_VM_TOL_PU = 5e-4
MIN_VM_BUS = 17


@pytest.mark.parametrize("backend", ["lightsim2grid", "pandapower"])
def test_baran_wu_base_case_matches_published_losses_and_minimum_voltage(
    cache_dir, backend
) -> None:
    feeder = load_feeder("baran-wu-33", cache_dir=cache_dir)
    result = run_powerflow(feeder.net, backend=backend, name=feeder.name)
    assert result.converged
    assert result.losses_mw == pytest.approx(LOSSES_MW, abs=LOSSES_TOL_MW)
    assert result.min_vm_pu == pytest.approx(MIN_VM_PU, abs=MIN_VM_TOL_PU)
    assert result.min_vm_bus == MIN_VM_BUS
    # the published total load of the feeder: 3715 kW, 2300 kVAr
    assert result.load_p_mw == pytest.approx(3.715, abs=1e-9)
    assert result.feeder_head_p_mw == pytest.approx(3.715 + result.losses_mw, abs=1e-6)


def test_baran_wu_undervoltage_violations_against_default_band(cache_dir) -> None:
    result = run_powerflow(load_feeder("baran-wu-33", cache_dir=cache_dir).net)
    undervoltage = {v.element_id for v in result.violations if v.kind == "undervoltage"}
    below = set(result.bus.index[result.bus.vm_pu < 0.95])
    assert undervoltage == below
    assert 17 in undervoltage and 0 not in undervoltage
    assert not [v for v in result.violations if v.kind != "undervoltage"]
