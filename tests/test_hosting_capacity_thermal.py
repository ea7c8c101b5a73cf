"""An absolute thermal hosting capacity, checked against the line rating itself.

Baran & Wu's line 0 (bus 0, the 12.66 kV slack at 1.0 pu, to bus 1) carries the whole feeder.
gridderms rates every Baran-Wu line at 0.4 kA (``BARAN_WU_LINE_RATING_KA``), so line 0 carries
at most sqrt(3) x 12.66 kV x 0.4 kA = 8.771 MVA at the head. With the voltage band opened to
0.5..1.5 pu only the thermal limit can bind at bus 1: the hosting capacity there must put
exactly the rating (times the loading limit) through line 0, to within the HC engine's own
tolerance, and the limit it names must be thermal on line 0. The flow is measured by an
independent ``pandapower.runpp`` (head-end apparent power from ``res_line``), not by the HC
engine.
"""

from __future__ import annotations

import math

import numpy as np
import pandapower as pp
import pytest

from network_models.builtin import BARAN_WU_LINE_RATING_KA
from network_models.loaders import load_feeder
from solvers.hosting_capacity.operating_point import worst_case
from solvers.hosting_capacity.refine import Tolerance
from solvers.hosting_capacity.static import hosting_capacity
from solvers.limits import OperatingLimits, StudyLimits

#: 0.1 % or 1 kW: the bracket the HC engine must close (Tolerance.width_mw)
TOLERANCE = Tolerance(relative=0.001, absolute_mw=0.001)
LINE_0_RATING_MVA = math.sqrt(3.0) * 12.66 * 0.4
HEAD_BUS, BUS = 0, 1


@pytest.fixture(scope="module")
def baran_wu(cache_dir):
    return load_feeder("baran-wu-33", cache_dir=cache_dir)


def _head_flow_mva(feeder, mode: str, p_mw: float) -> float:
    """Apparent power into line 0 at the head [MVA] with ``p_mw`` of new load or generation
    (unity power factor) at bus 1, at the mode's worst-case operating point, by runpp."""
    net = worst_case(feeder, mode).apply(feeder.net)
    if mode == "load":
        pp.create_load(net, BUS, p_mw=p_mw, q_mvar=0.0)
    else:
        pp.create_sgen(net, BUS, p_mw=p_mw, q_mvar=0.0)
    pp.runpp(net, algorithm="nr", tolerance_mva=1e-10, numba=False)
    assert net.res_bus.vm_pu[HEAD_BUS] == pytest.approx(1.0, abs=1e-12)
    return float(np.hypot(net.res_line.p_from_mw[0], net.res_line.q_from_mvar[0]))


def test_line_0_rating_is_8_771_mva(baran_wu) -> None:
    net = baran_wu.net
    line = net.line.loc[0]
    assert (int(line.from_bus), int(line.to_bus)) == (HEAD_BUS, BUS)
    assert line.max_i_ka * line.df * line.parallel == BARAN_WU_LINE_RATING_KA == 0.4
    assert net.bus.vn_kv[HEAD_BUS] == 12.66 and net.ext_grid.vm_pu.tolist() == [1.0]
    rating_mva = math.sqrt(3.0) * net.bus.vn_kv[HEAD_BUS] * line.max_i_ka
    assert rating_mva == pytest.approx(LINE_0_RATING_MVA, rel=1e-12)
    assert rating_mva == pytest.approx(8.771, abs=5e-4)


@pytest.mark.parametrize("loading_percent", [100.0, 80.0])
@pytest.mark.parametrize("mode", ["load", "gen"])
def test_thermal_hosting_capacity_puts_the_rating_through_line_0(
    baran_wu, mode, loading_percent
) -> None:
    limits = StudyLimits(OperatingLimits(0.5, 1.5, loading_percent), use_bus_limits=False)
    result = hosting_capacity(
        baran_wu, buses=[BUS], modes=(mode,), limits=limits, tolerance=TOLERANCE, jobs=1
    )
    row = result.table.loc[BUS]
    assert row[f"binding_{mode}"] == "thermal on line 0"
    assert row[f"binding_{mode}_detail"].endswith(f"> {loading_percent:.4f} %)")
    hc = float(row[f"hc_{mode}_mw"])
    width = TOLERANCE.width_mw(hc)
    limit_mva = LINE_0_RATING_MVA * loading_percent / 100.0
    at_hc = _head_flow_mva(baran_wu, mode, hc)
    above = _head_flow_mva(baran_wu, mode, hc + width)
    # the capacity is feasible, one tolerance more is not: the rating lies in between
    assert at_hc <= limit_mva + 1e-6 < above
    # so the flow at the capacity is the rating to within the tolerance (d|S|/dP < 1 here)
    assert above - at_hc < width
    assert at_hc == pytest.approx(limit_mva, abs=width)
