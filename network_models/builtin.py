"""Built-in reference feeders, by name.

Each entry builds a pandapower net (and, for SimBench grids, its year of 15-minute profiles) from
the data shipped with pandapower and simbench. Building is slow for SimBench (~5 s), so
:mod:`network_models.loaders` caches the result as pandapower JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd

from network_models.profiles import PROFILE_KEYS, FeederProfiles

#: Thermal rating gridderms assigns to every Baran & Wu line [kA]; the paper gives none.
BARAN_WU_LINE_RATING_KA = 0.4

BuildResult = tuple[pp.pandapowerNet, FeederProfiles | None, tuple[str, ...]]


@dataclass(frozen=True)
class BuiltinFeeder:
    """A reference feeder that ships with gridderms.

    Attributes
    ----------
    name : str
        Name used on the command line and in the API.
    description : str
        One line for listings.
    reference : str
        Where the model comes from.
    build : Callable
        Returns ``(net, profiles or None, notes)``; notes record every change gridderms makes to
        the published model (e.g. assigned ratings), so nothing is silently altered.
    """

    name: str
    description: str
    reference: str
    build: Callable[[], BuildResult]


def _baran_wu_33() -> BuildResult:
    net = pn.case33bw()
    unrated = net.line.max_i_ka >= 99999.0
    net.line.loc[unrated, "max_i_ka"] = BARAN_WU_LINE_RATING_KA
    note = (
        f"Baran & Wu (1989) publish no thermal ratings: gridderms assigned "
        f"{BARAN_WU_LINE_RATING_KA} kA to {int(unrated.sum())} lines "
        f"(about twice the base-case feeder-head current)."
    )
    return net, None, (note,)


#: Storage duration gridderms assigns to CIGRE MV batteries, which carry no energy [h].
CIGRE_STORAGE_DURATION_H = 4.0


def _cigre_mv_der() -> BuildResult:
    net = pn.create_cigre_network_mv(with_der="all")
    missing = net.storage.max_e_mwh.isna()
    rated_mw = net.storage[["p_mw", "max_p_mw", "min_p_mw"]].abs().max(axis=1)
    net.storage.loc[missing, "max_e_mwh"] = rated_mw[missing] * CIGRE_STORAGE_DURATION_H
    net.storage.loc[missing, "min_e_mwh"] = 0.0
    net.storage.loc[net.storage.soc_percent.isna(), "soc_percent"] = 50.0
    # pandapower writes controllable=False for every sgen it creates (its OPF then holds them
    # fixed); this is the DER demo feeder, so its PV and wind are the DERMS's to curtail
    renewable = net.sgen.type.isin(["PV", "WP"])
    net.sgen["controllable"] = renewable
    controllable_note = (
        f"gridderms marked the {int(renewable.sum())} PV and wind sgens controllable "
        f"(curtailable, reactive range per IEEE 1547); the {int((~renewable).sum())} CHP and "
        f"fuel-cell units stay controllable=False (held at their p_mw and q_mvar)."
    )
    note = (
        f"pandapower's CIGRE MV model gives its {int(missing.sum())} batteries no energy "
        f"capacity: gridderms assigned {CIGRE_STORAGE_DURATION_H:g} h at rated power "
        f"({', '.join(f'{e:g}' for e in net.storage.max_e_mwh[missing])} MWh) and 50 % "
        f"initial state of charge."
    )
    return net, None, (note, controllable_note)


def _cigre_lv() -> BuildResult:
    return pn.create_cigre_network_lv(), None, ()


def _mv_oberrhein() -> BuildResult:
    return pn.mv_oberrhein(), None, ()


def _lv_schutterwald() -> BuildResult:
    return pn.lv_schutterwald(), None, ()


def simbench_feeder(code: str, steps: slice | None = None) -> BuildResult:
    """Build a SimBench grid with its 15-minute load and generation profiles.

    Parameters
    ----------
    code : str
        SimBench code, e.g. ``"1-LV-rural1--0-sw"``.
    steps : slice, optional
        Profile steps to keep (15-min steps from 2016-01-01 00:00), e.g. ``slice(96 * 172,
        96 * 173)`` for 21 June; the whole year when omitted. A year of absolute profiles
        of a 5,000-bus MV/LV grid takes about 1.5 GB, a day 4 MB.
    """
    import simbench as sb

    net = sb.get_simbench_net(code)
    start = pd.Timestamp("2016-01-01")
    if steps is not None:
        first = steps.start or 0
        start += pd.Timedelta(minutes=15 * first)
        for name, table in net.profiles.items():
            net.profiles[name] = table.iloc[steps].reset_index(drop=True)
    absolute = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    values: dict[tuple[str, str], pd.DataFrame] = {}
    for key in PROFILE_KEYS:
        frame = absolute.get(key)
        if frame is not None and frame.shape[1] > 0:
            values[key] = pd.DataFrame(
                np.asarray(frame, dtype=float), columns=np.asarray(frame.columns, dtype=np.int64)
            )
    profiles = FeederProfiles(values=values, step_minutes=15, start=start)
    # the raw relative profiles are now in `profiles`; keeping them would bloat every copy
    for table in ("profiles", "loadcases"):
        if table in net:
            del net[table]
    return net, profiles, ()


def _simbench(code: str) -> Callable[[], BuildResult]:
    return lambda: simbench_feeder(code)


BUILTIN_FEEDERS: dict[str, BuiltinFeeder] = {
    feeder.name: feeder
    for feeder in (
        BuiltinFeeder(
            "baran-wu-33",
            "Baran & Wu 33-bus 12.66 kV radial feeder",
            "M. E. Baran, F. F. Wu, IEEE Trans. Power Delivery 4(2), 1989; pandapower case33bw",
            _baran_wu_33,
        ),
        BuiltinFeeder(
            "cigre-mv-der",
            "CIGRE MV 20 kV benchmark with all DER (PV, wind, CHP, fuel cells, batteries)",
            "CIGRE TF C6.04.02 (2014); pandapower create_cigre_network_mv(with_der='all')",
            _cigre_mv_der,
        ),
        BuiltinFeeder(
            "cigre-lv",
            "CIGRE LV 0.4 kV benchmark (residential, industrial, commercial)",
            "CIGRE TF C6.04.02 (2014); pandapower create_cigre_network_lv",
            _cigre_lv,
        ),
        BuiltinFeeder(
            "mv-oberrhein",
            "MV Oberrhein 20 kV, two substations, real German grid",
            "pandapower mv_oberrhein (Meinecke et al. 2017)",
            _mv_oberrhein,
        ),
        BuiltinFeeder(
            "lv-schutterwald",
            "LV Schutterwald 0.4 kV, 14 substations, ~2,900 buses",
            "pandapower lv_schutterwald",
            _lv_schutterwald,
        ),
        BuiltinFeeder(
            "1-LV-rural1--0-sw",
            "SimBench LV rural 1 with a year of 15-min profiles",
            "SimBench (Meinecke et al. 2020), code 1-LV-rural1--0-sw",
            _simbench("1-LV-rural1--0-sw"),
        ),
        BuiltinFeeder(
            "1-MV-rural--0-sw",
            "SimBench MV rural with a year of 15-min profiles",
            "SimBench (Meinecke et al. 2020), code 1-MV-rural--0-sw",
            _simbench("1-MV-rural--0-sw"),
        ),
    )
}
