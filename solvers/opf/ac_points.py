"""AC power flows of dispatch schedules: the verification of a schedule and the operating points
the linearised formulations start from or step back to.

Every DER is set to its scheduled power in a copy of the forecast and the period is solved by
:func:`solvers.timeseries.run_timeseries` against the request's limits widened by its
tolerances (:func:`solvers.limits.widened`).
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.profiles import FeederProfiles
from solvers.acmodel import AcModel, injection_delta
from solvers.limits import widened
from solvers.opf.fleet import DerFleet
from solvers.opf.request import DispatchRequest
from solvers.powerflow import PowerFlowError
from solvers.timeseries import TimeSeriesResult, run_timeseries


def der_profiles(request: DispatchRequest, p_mw: np.ndarray, q_mvar: np.ndarray) -> FeederProfiles:
    """The forecast with every DER element set to ``p_mw``/``q_mvar`` (DER x period)."""
    values = {key: frame.copy() for key, frame in request.forecast.values.items()}
    n_t = request.fleet.n_periods
    for table in ("sgen", "storage", "load"):
        positions = [i for i, (t, _) in enumerate(request.fleet.element) if t == table]
        if not positions:
            continue
        ids = [request.fleet.element[i][1] for i in positions]
        sign = 1.0 if table == "sgen" else -1.0  # storage (charging) and load: consumption +
        for column, data in (("p_mw", p_mw), ("q_mvar", q_mvar)):
            ders = pd.DataFrame(sign * data[positions].T, columns=ids)
            frame = values.get((table, column), pd.DataFrame(index=range(n_t)))
            others = frame.drop(columns=[c for c in ids if c in frame.columns])
            values[(table, column)] = pd.concat([others.reset_index(drop=True), ders], axis=1)
    return FeederProfiles(
        values=values, step_minutes=request.forecast.step_minutes, start=request.forecast.start
    )


def fixed_injection_pu(model: AcModel, request: DispatchRequest) -> np.ndarray:
    """Bus injections of everything but the DERs per period [pu, complex, generation +]."""
    zero = np.zeros((request.fleet.n_der, request.fleet.n_periods))
    profiles = der_profiles(request, zero, zero)
    delta = injection_delta(model, dict(profiles.values))
    return model.element_sbus0[np.newaxis, :] + delta


def uncontrolled_p_mw(fleet: DerFleet) -> np.ndarray:
    """What each DER does without dispatch [MW] (DER x period): generation at its available
    power, storage idle, flexible loads at their baseline, fixed DERs at their set-points."""
    natural = np.zeros_like(fleet.p_max_mw)
    if fleet.p_baseline_mw is not None and fleet.neutral_window is not None:
        flexible = fleet.neutral_window.any(axis=1)
        natural[flexible] = -fleet.p_baseline_mw[flexible, None]
    natural = np.clip(natural, fleet.p_min_mw, fleet.p_max_mw)
    natural = np.where(fleet.curtailable[:, None], fleet.p_available_mw, natural)
    return np.where(fleet.fixed[:, None], fleet.p_fixed_mw, natural)


def uncontrolled_q_mvar(fleet: DerFleet) -> np.ndarray:
    """Reactive power of each DER without dispatch [MVAr] (DER x period): fixed DERs at their
    set-points, the others at zero."""
    return np.where(fleet.fixed[:, None], fleet.q_fixed_mvar, 0.0)


def voltages_at(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    p_mw: np.ndarray,
    q_mvar: np.ndarray,
) -> np.ndarray | None:
    """AC bus voltages per period with the DERs at ``p_mw`` / ``q_mvar`` (a linearisation
    point), or ``None`` when that AC power flow has no solution."""
    try:
        return verify_schedule(net, model, request, p_mw, q_mvar).model_voltages_pu
    except PowerFlowError:
        return None


def uncontrolled_voltages(
    net: pp.pandapowerNet, model: AcModel, request: DispatchRequest
) -> np.ndarray | None:
    """AC bus voltages of the uncontrolled schedule per period (a first linearisation point
    near the answer), or ``None`` when that AC power flow has no solution."""
    fleet = request.fleet
    return voltages_at(net, model, request, uncontrolled_p_mw(fleet), uncontrolled_q_mvar(fleet))


def verify_schedule(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    p_mw: np.ndarray,
    q_mvar: np.ndarray,
) -> TimeSeriesResult:
    """AC power flow of every period of a schedule (DER x period set-points)."""
    return run_timeseries(
        net,
        der_profiles(request, p_mw, q_mvar),
        steps=request.fleet.n_periods,
        limits=widened(request.limits, request.vm_tolerance_pu, request.loading_tolerance_percent),
        model=model,
    )


def minimum_injection_voltages(
    net: pp.pandapowerNet, model: AcModel, request: DispatchRequest
) -> np.ndarray | None:
    """AC bus voltages with every flexible DER at its lowest active power and no reactive
    power (another linearisation point, on the other side of an overvoltage), or ``None``
    when that power flow has no solution."""
    fleet = request.fleet
    p_mw = np.where(fleet.fixed[:, None], fleet.p_fixed_mw, fleet.p_min_mw)
    return voltages_at(net, model, request, p_mw, uncontrolled_q_mvar(fleet))


#: step halvings towards a solvable point before a diverged AC power flow is an error
MAX_STEP_HALVINGS = 6


def solvable_point(
    net: pp.pandapowerNet,
    model: AcModel,
    request: DispatchRequest,
    p_mw: np.ndarray,
    q_mvar: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """AC voltages of the schedule halfway (then a quarter, ...) from ``p_mw``/``q_mvar``
    back to ``reference`` (default: the uncontrolled schedule), the first whose AC power flow
    solves (step halving).

    Raises
    ------
    PowerFlowError
        When no step back within :data:`MAX_STEP_HALVINGS` halvings solves.
    """
    fleet = request.fleet
    if reference is None:
        reference = (uncontrolled_p_mw(fleet), uncontrolled_q_mvar(fleet))
    share = 0.5
    for _ in range(MAX_STEP_HALVINGS):
        p = reference[0] + share * (p_mw - reference[0])
        q = reference[1] + share * (q_mvar - reference[1])
        voltages = voltages_at(net, model, request, p, q)
        if voltages is not None:
            return voltages
        share /= 2
    raise PowerFlowError(
        "the AC power flow of the dispatch has no solution, even stepped back "
        f"{MAX_STEP_HALVINGS} times towards the last solvable schedule"
    )
