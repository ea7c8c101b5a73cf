"""Telemetry ingest and read-back, and the power flow of the current state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from api.body import body_doc, json_body
from api.deps import Adms, ModelsDep, SessionDep, SettingsDep, Viewer
from api.schemas import TelemetryBatchCreate
from api.schemas.feeders import PowerFlowPublic
from api.schemas.monitoring import MeasurementPublic, TelemetryAcceptedPublic
from gridderms.service import telemetry as service
from gridderms.service.powerflow import current_powerflow

router = APIRouter(tags=["telemetry", "power flow"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]


@router.post(
    "/feeders/{feeder}/telemetry",
    response_model=TelemetryAcceptedPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        400: {"description": "A measurement time stamped in the future"},
        404: {"description": "Unknown feeder or DER"},
    },
    openapi_extra=body_doc("TelemetryBatchCreate"),
)
def ingest(
    principal: Adms,
    session: SessionDep,
    settings: SettingsDep,
    feeder: FeederName,
    body: Annotated[TelemetryBatchCreate, Depends(json_body(TelemetryBatchCreate))],
) -> TelemetryAcceptedPublic:
    """Store DER and feeder-head measurements (all or none); a good voltage outside the
    service's band raises a ``voltage_out_of_band`` alarm, one inside clears it.

    Idempotent: a measurement's identity is its DER (or the feeder head), ``measured_at`` and
    optional ``client_id``; one already stored (a retried batch) is counted in
    ``duplicates`` and not stored again."""
    measurements = [m.model_dump() for m in body.measurements]
    band = (settings.vm_min_pu, settings.vm_max_pu)
    result = service.ingest(session, principal, feeder, measurements, band)
    return TelemetryAcceptedPublic(
        feeder=feeder, accepted=result.stored, duplicates=result.duplicates
    )


@router.get("/feeders/{feeder}/telemetry", response_model=list[MeasurementPublic])
def read(
    _: Viewer,
    session: SessionDep,
    feeder: FeederName,
    der_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[MeasurementPublic]:
    """Newest measurements first (of one DER with ``der_id``)."""
    rows = service.latest(session, feeder, der_id, limit)
    return [MeasurementPublic.model_validate(row) for row in rows]


@router.post(
    "/feeders/{feeder}/powerflow",
    response_model=PowerFlowPublic,
    responses={400: {"description": "Power flow did not converge"}},
)
def powerflow(
    _: Viewer, session: SessionDep, models: ModelsDep, settings: SettingsDep, feeder: FeederName
) -> PowerFlowPublic:
    """AC power flow of the current topology with operator overrides applied (read-only)."""
    limits = settings.operating_limits()
    return PowerFlowPublic.of(*current_powerflow(session, models, feeder, limits))
