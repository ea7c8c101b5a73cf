"""AC power flow of a feeder's current state: its topology version, with the operator's
set-point overrides applied to the DERs that have a pandapower element."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gridderms.persistence.repositories import ders_of, feeder_by_name
from gridderms.service.dispatch import json_safe
from gridderms.service.errors import InvalidRequestError
from gridderms.service.feeders import FeederModels
from solvers.limits import OperatingLimits
from solvers.powerflow import PowerFlowError, run_powerflow


def current_powerflow(
    session: Session, models: FeederModels, feeder_name: str, limits: OperatingLimits
) -> dict[str, Any]:
    """Solve the AC power flow of the feeder's current state; a JSON-ready summary.

    Raises
    ------
    InvalidRequestError
        The power flow does not converge.
    """
    row = feeder_by_name(session, feeder_name)
    feeder = models.snapshot(row)
    net = feeder.net
    applied = []
    for der in ders_of(session, row):
        element = der.record.get("source_element")
        if der.override_p_mw is None or not element:
            continue
        table, index = str(element[0]), int(element[1])
        if table in ("sgen", "storage") and index in net[table].index:
            net[table].loc[index, ["p_mw", "q_mvar"]] = [
                der.override_p_mw,
                der.override_q_mvar or 0.0,
            ]
            applied.append(der.der_id)
    try:
        result = run_powerflow(net, limits=limits, backend="lightsim2grid", name=row.name)
    except PowerFlowError as exc:
        raise InvalidRequestError(f"power flow of feeder '{feeder_name}': {exc}") from None
    element = result.max_loading_element
    return json_safe(
        {
            "feeder": row.name,
            "feeder_version": row.version,
            "backend": result.backend,
            "converged": result.converged,
            "losses_mw": result.losses_mw,
            "losses_mvar": result.losses_mvar,
            "min_vm_pu": result.min_vm_pu,
            "min_vm_bus": result.min_vm_bus,
            "max_vm_pu": result.max_vm_pu,
            "max_vm_bus": result.max_vm_bus,
            "max_loading_percent": result.max_loading_percent,
            "max_loading_element": list(element) if element else None,
            "load_p_mw": result.load_p_mw,
            "generation_p_mw": result.generation_p_mw,
            "overrides_applied": applied,
            "violations": [v.to_dict() for v in result.violations],
            "deenergized_buses": list(result.deenergized_buses),
            "solve_time_s": result.elapsed_s,
        }
    )
