"""Reference solutions from pandapower's AC optimal power flow (``runopp``), for comparisons.

``runopp`` (PYPOWER's interior point) solves the full AC OPF; it is slow and fails to converge on
many realistic distribution grids, but where it converges it is the exact optimum a linearised
dispatch is measured against.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import pandapower as pp


@dataclass(frozen=True)
class GeneratorSite:
    """A controllable generator for the reference OPF: bus, available power and Q box."""

    bus: int
    p_available_mw: float
    q_min_mvar: float
    q_max_mvar: float


def runopp_max_generation_mw(
    net: pp.pandapowerNet,
    sites: Sequence[GeneratorSite],
    *,
    vm_min_pu: float,
    vm_max_pu: float,
    max_loading_percent: float = 100.0,
    load_scaling: float = 1.0,
) -> float:
    """Most generation [MW] the sites can deliver within the limits, by pandapower's AC OPF.

    Every site is a controllable sgen in ``[0, p_available_mw]`` with its Q box and a cost of
    -1 per MW (maximise output = least curtailment). ``net`` is not changed.

    Raises
    ------
    RuntimeError
        When ``runopp`` does not converge.
    """
    net = copy.deepcopy(net)
    net.load["scaling"] = load_scaling
    net.bus["min_vm_pu"], net.bus["max_vm_pu"] = vm_min_pu, vm_max_pu
    net.ext_grid[["max_p_mw", "min_p_mw", "max_q_mvar", "min_q_mvar"]] = [100, -100, 100, -100]
    # SimBench grids carry 'controllable' columns with gaps; runopp needs booleans
    for table, default in (("ext_grid", True), ("sgen", False), ("gen", False), ("load", False)):
        frame = net[table]
        if "controllable" in frame:
            frame["controllable"] = frame["controllable"].fillna(default).astype(bool)
    if "storage" in net and len(net.storage):
        net.storage["in_service"] = False  # not part of the reference problem
    net.line["max_loading_percent"] = max_loading_percent
    if len(net.trafo):
        net.trafo["max_loading_percent"] = max_loading_percent
    for site in sites:
        index = pp.create_sgen(
            net,
            site.bus,
            p_mw=site.p_available_mw,
            controllable=True,
            max_p_mw=site.p_available_mw,
            min_p_mw=0.0,
            max_q_mvar=site.q_max_mvar,
            min_q_mvar=site.q_min_mvar,
        )
        pp.create_poly_cost(net, index, "sgen", cp1_eur_per_mw=-1.0)
    try:
        pp.runopp(net, init="pf")
    except pp.OPFNotConverged as exc:
        raise RuntimeError(f"pandapower runopp did not converge: {exc}") from exc
    return float(net.res_sgen.p_mw.sum())
