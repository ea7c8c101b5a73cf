"""Single-period dispatch against pandapower's AC OPF (``runopp``, PYPOWER interior point) on
the same case: Baran & Wu with 3.5 + 3.5 + 0.5 MW PV, IEEE 1547 category A reactive limits,
load at 0.6 x, maximise PV output (= least curtailment) within the voltage band.

Both sides get identical limits: PV in [0, available], Q in [-0.25 S, 0.44 S] (runopp's box,
our category A limits), a rating S = 1.05 P whose circle does not bind inside that box, and the
power-factor limit relaxed (pf_min 0.05) because runopp has none.
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from gridderms.ders.capability import ReactiveCapability
from gridderms.ders.records import PvSystem
from gridderms.dispatch.horizon import Horizon
from gridderms.dispatch.service import dispatch_feeder
from network_models.loaders import load_feeder
from solvers.limits import OperatingLimits
from solvers.opf.reference import GeneratorSite, runopp_max_generation_mw

NOON = Horizon(pd.Timestamp("2026-06-21 12:00"), 1, 60)
NOON_SHARE = float(np.sin(np.pi * 6.5 / 12.0))  # clear-sky bell at 12:30
SITES_MW = {17: 3.5, 32: 3.5, 24: 0.5}
LOAD_SCALING = 0.6  # the synthetic one-period forecast


def _ders() -> list[PvSystem]:
    return [
        PvSystem(
            der_id=f"pv-{bus}",
            name=f"PV {bus}",
            bus=bus,
            der_type="pv",
            reactive=ReactiveCapability(
                s_rated_mva=1.05 * p_mw, pf_min=0.05, ieee1547_category="A"
            ),
            p_nameplate_mw=p_mw,
            p_available_mw=p_mw,
            curtailable=True,
        )
        for bus, p_mw in SITES_MW.items()
    ]


def _runopp_pv_mw(net: pp.pandapowerNet, ders: list[PvSystem], vm_max_pu: float) -> float:
    sites = [
        GeneratorSite(
            der.bus,
            der.p_available_mw * NOON_SHARE,
            -der.reactive.q_absorb_max_mvar,
            der.reactive.q_inject_max_mvar,
        )
        for der in ders
    ]
    return runopp_max_generation_mw(
        net, sites, vm_min_pu=0.90, vm_max_pu=vm_max_pu, load_scaling=LOAD_SCALING
    )


@pytest.mark.parametrize("vm_max_pu", [1.05, 1.03])
def test_dispatch_matches_pandapower_ac_opf(cache_dir, vm_max_pu) -> None:
    feeder = load_feeder("baran-wu-33", cache_dir=cache_dir)
    ders = _ders()
    reference = _runopp_pv_mw(feeder.net, ders, vm_max_pu)
    available = sum(SITES_MW.values()) * NOON_SHARE
    assert reference < available - 1.0  # curtailment binds
    limits = OperatingLimits(0.90, vm_max_pu, 100.0)
    lin_ac = dispatch_feeder(feeder, ders, NOON, limits=limits, formulation="linearized-ac")
    ldf = dispatch_feeder(feeder, ders, NOON, limits=limits, formulation="lindistflow")
    for result in (lin_ac, ldf):
        assert result.status == "optimal" and result.ac_feasible
    # re-linearising at every AC point converges to the AC optimum itself
    assert lin_ac.schedule.p_mw.sum() == pytest.approx(reference, rel=1e-4)
    # LinDistFlow with AC offsets: within the 2 %, never above the AC optimum
    assert ldf.schedule.p_mw.sum() == pytest.approx(reference, rel=0.02)
    assert ldf.schedule.p_mw.sum() <= reference * (1 + 1e-4)
