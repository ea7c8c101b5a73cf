"""Whether a set-point is within a DER's capability: its active-power range and its reactive
capability at that active power.

Every set-point the service queues for a device (an operator override, a schedule's points)
passes :func:`check_setpoint` first, so a device is never asked for what it cannot do.

Sign convention (pandapower, generator view): generation positive; a charging battery or EV
charger and a flexible load's consumption are negative. Powers in [MW], [MVAr].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gridderms.ders import records
from gridderms.ders.capability import q_limits_mvar
from gridderms.ders.errors import DerError

#: how far [MW]/[MVAr] a set-point may lie outside the range and still be accepted (clipped
#: onto it): the optimiser's feasibility tolerance, far below any device's resolution
SETPOINT_TOLERANCE = 1e-6


class SetpointError(DerError, ValueError):
    """A set-point outside a DER's capability; the message names the DER, the limit and both
    values."""


@dataclass(frozen=True)
class PowerRange:
    """The active-power range a DER can be set to [MW] (generator sign) and the field of its
    record each bound comes from."""

    p_min_mw: float
    p_max_mw: float
    min_source: str
    max_source: str


def p_range_mw(der: records.DerRecord) -> PowerRange:
    """The active-power set-point range of ``der`` [MW], generation positive.

    PV systems and generators: ``[0, p_nameplate_mw]`` / ``[0, p_max_mw]``, capped by a declared
    ``p_limit_mw`` (a set-point is an output limit, so zero, switching it off, is always
    possible); batteries ``[-p_charge_max_mw, p_discharge_max_mw]``; EV chargers
    ``[-p_max_mw, 0]``; flexible loads ``[-p_max_mw, -p_min_mw]``.
    """
    if isinstance(der, records.PvSystem | records.DistributedGenerator):
        rated, field = (
            (der.p_nameplate_mw, "p_nameplate_mw")
            if isinstance(der, records.PvSystem)
            else (der.p_max_mw, "p_max_mw")
        )
        if der.p_limit_mw is not None and der.p_limit_mw < rated:
            rated, field = der.p_limit_mw, "p_limit_mw"
        return PowerRange(0.0, rated, "zero output", field)
    if isinstance(der, records.BatteryStorage):
        return PowerRange(
            -der.p_charge_max_mw, der.p_discharge_max_mw, "p_charge_max_mw", "p_discharge_max_mw"
        )
    if isinstance(der, records.EvCharger):
        return PowerRange(-der.p_max_mw, 0.0, "p_max_mw (charging)", "zero charging")
    if isinstance(der, records.FlexibleLoad):
        return PowerRange(
            -der.p_max_mw, -der.p_min_mw, "p_max_mw (consumption)", "p_min_mw (consumption)"
        )
    raise SetpointError(f"DER '{der.der_id}': no set-point range for type {der.der_type}")


def check_setpoint(
    der: records.DerRecord, p_mw: float, q_mvar: float, *, what: str = "set-point"
) -> tuple[float, float]:
    """``(p_mw, q_mvar)`` checked against the capability of ``der``, clipped onto it when
    within :data:`SETPOINT_TOLERANCE`.

    Parameters
    ----------
    der : DerRecord
    p_mw : float
        Active power [MW], generation positive.
    q_mvar : float
        Reactive power [MVAr], injection positive.
    what : str
        What the values are, for the message (``"override"``, ``"schedule period 3"``).

    Returns
    -------
    tuple of float
        The set-point, on the range.

    Raises
    ------
    SetpointError
        Non-finite values, ``p_mw`` outside :func:`p_range_mw`, or ``q_mvar`` outside the
        reactive capability at ``p_mw`` (:func:`~gridderms.ders.capability.q_limits_mvar`: the
        apparent-power circle, the power-factor limit, the IEEE 1547 category or the declared
        range). The message names the limit.
    """
    label = f"{what} of DER '{der.der_id}' ({der.der_type})"
    for name, value in (("p_mw", p_mw), ("q_mvar", q_mvar)):
        if isinstance(value, bool) or not math.isfinite(value):
            raise SetpointError(f"{label}: {name} must be a finite number, got {value!r}")
    span = p_range_mw(der)
    if p_mw < span.p_min_mw - SETPOINT_TOLERANCE or p_mw > span.p_max_mw + SETPOINT_TOLERANCE:
        low = p_mw < span.p_min_mw
        raise SetpointError(
            f"{label}: p_mw = {p_mw:g} MW is {'below' if low else 'above'} its active-power "
            f"range [{span.p_min_mw:g}, {span.p_max_mw:g}] MW "
            f"({span.min_source if low else span.max_source})"
        )
    p_mw = min(max(p_mw, span.p_min_mw), span.p_max_mw)
    q_min, q_max = q_limits_mvar(p_mw, der.reactive)
    if q_mvar < q_min - SETPOINT_TOLERANCE or q_mvar > q_max + SETPOINT_TOLERANCE:
        if der.reactive.declared:
            limit = "the declared reactive range and the apparent-power circle"
        else:
            limit = (
                f"the apparent-power circle (s_rated {der.reactive.s_rated_mva:g} MVA), the "
                f"power factor {der.reactive.pf_min:g} and IEEE 1547 category "
                f"{der.reactive.ieee1547_category}"
            )
        raise SetpointError(
            f"{label}: q_mvar = {q_mvar:g} MVAr is outside its reactive capability "
            f"[{q_min:g}, {q_max:g}] MVAr at p_mw = {p_mw:g} MW ({limit})"
        )
    return p_mw, min(max(q_mvar, q_min), q_max)


__all__ = ["SETPOINT_TOLERANCE", "PowerRange", "SetpointError", "check_setpoint", "p_range_mw"]
