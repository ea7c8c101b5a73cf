"""AC power flow of a feeder's current state: its topology version, with the operator's
set-point overrides applied to the DERs that have a pandapower element."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gridderms.persistence.ders import ders_of
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.models import FeederRow
from gridderms.service.errors import InvalidRequestError
from gridderms.service.feeder_models import FeederModels
from solvers.limits import OperatingLimits
from solvers.powerflow import PowerFlowError, PowerFlowResult, run_powerflow


def current_powerflow(
    session: Session, models: FeederModels, feeder_name: str, limits: OperatingLimits
) -> tuple[FeederRow, PowerFlowResult, list[str]]:
    """Solve the AC power flow of the feeder's current state: its row, the result and the
    DERs whose override was applied.

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
    return row, result, applied
