"""Following the ADMS's switching on a loaded feeder."""

from __future__ import annotations

import pytest

from network_models.errors import SwitchingError, UnknownElementError
from network_models.loaders import load_feeder
from solvers.powerflow import run_powerflow


def test_closing_a_tie_switch_meshes_the_feeder_and_changes_the_flow(cache_dir) -> None:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    radial = run_powerflow(feeder.net)
    before = feeder.topology()
    assert before.is_radial
    after = feeder.close_switch(4)  # S1 ties feeder 1 (bus 8) to feeder 2 (bus 14)
    assert after is feeder.topology() and after is not before
    assert not after.is_radial and len(after.meshes()) == 1
    meshed = run_powerflow(feeder.net)
    # the tie line now carries current and the voltage profile changes
    assert meshed.line.loading_percent[14] > 1.0
    # open at one end, the cable carries only its own charging current
    assert radial.line.loading_percent[14] < 0.1
    assert abs(meshed.min_vm_pu - radial.min_vm_pu) > 1e-4
    reopened = feeder.open_switch(4)
    assert reopened.is_radial and feeder.version == 2


def test_opening_a_feeder_breaker_deenergizes_its_buses(cache_dir) -> None:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    topology = feeder.open_switch(6)  # circuit breaker of transformer 0 (feeds buses 1..11)
    assert topology.deenergized_buses == frozenset(range(1, 12))
    result = run_powerflow(feeder.net)
    assert set(result.deenergized_buses) == set(range(1, 12))
    assert not [v for v in result.violations if v.element_id in range(1, 12) and v.element == "bus"]


def test_unknown_and_redundant_switching_are_refused(cache_dir) -> None:
    feeder = load_feeder("cigre-mv-der", cache_dir=cache_dir)
    with pytest.raises(UnknownElementError, match="switch 99 does not exist"):
        feeder.open_switch(99)
    with pytest.raises(SwitchingError, match="switch 4 \\('S1'\\) is already open"):
        feeder.open_switch(4)
    assert feeder.version == 0
