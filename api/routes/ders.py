"""DERs of a feeder: CRUD, operator lock-out/release and set-point overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status

from api.body import body_doc, der_record_body, json_body
from api.deps import Adms, ModelsDep, Operator, OperatorOrAdms, SessionDep, Viewer
from api.schemas import DerAvailabilityUpdate, DerCapabilityUpdate, OverrideSet
from api.schemas.ders import DerAvailabilityPublic, DerCapabilityPublic, DerPublic
from gridderms.ders import DerRecord
from gridderms.service import ders as service
from gridderms.service.errors import OutsideCapabilityError

router = APIRouter(tags=["ders"])

FeederName = Annotated[str, Path(description="Name of a loaded feeder", max_length=200)]
DerId = Annotated[str, Path(description="Id of a DER of the feeder", max_length=200)]
RecordBody = Annotated[DerRecord, Depends(der_record_body)]
_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "Unknown feeder or DER"}}


@router.get("/feeders/{feeder}/ders", response_model=list[DerPublic], responses=_NOT_FOUND)
def list_ders(_: Viewer, session: SessionDep, feeder: FeederName) -> list[DerPublic]:
    """Registered DERs of the feeder."""
    return [DerPublic.model_validate(row) for row in service.list_ders(session, feeder)]


@router.post(
    "/feeders/{feeder}/ders",
    response_model=DerPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_NOT_FOUND,
        400: {"description": "Bus not in the feeder"},
        409: {"description": "Id taken"},
    },
    openapi_extra=body_doc("DerRecord"),
)
def create_der(
    principal: Adms, session: SessionDep, models: ModelsDep, feeder: FeederName, body: RecordBody
) -> DerPublic:
    """Register a DER (typed record selected by ``der_type``)."""
    return DerPublic.model_validate(service.create(session, models, principal, feeder, body))


@router.get("/feeders/{feeder}/ders/{der_id}", response_model=DerPublic, responses=_NOT_FOUND)
def get_der(_: Viewer, session: SessionDep, feeder: FeederName, der_id: DerId) -> DerPublic:
    """One DER with its capability record, status and override."""
    return DerPublic.model_validate(service.get(session, feeder, der_id))


@router.put(
    "/feeders/{feeder}/ders/{der_id}",
    response_model=DerPublic,
    responses={**_NOT_FOUND, 400: {"description": "Id mismatch or bus not in the feeder"}},
    openapi_extra=body_doc("DerRecord"),
)
def replace_der(
    principal: Adms,
    session: SessionDep,
    models: ModelsDep,
    feeder: FeederName,
    der_id: DerId,
    body: RecordBody,
) -> DerPublic:
    """Replace a DER's record (same ``der_id``)."""
    return DerPublic.model_validate(
        service.replace(session, models, principal, feeder, der_id, body)
    )


@router.delete(
    "/feeders/{feeder}/ders/{der_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_NOT_FOUND,
)
def delete_der(principal: Adms, session: SessionDep, feeder: FeederName, der_id: DerId) -> Response:
    """Unregister a DER."""
    service.delete(session, principal, feeder, der_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _lockout(locked_out: bool, action: str, doc: str) -> None:
    """Add the route ``<action>_der`` that locks a DER out (``locked_out``) or releases it."""

    def set_status(
        principal: Operator, session: SessionDep, feeder: FeederName, der_id: DerId
    ) -> DerPublic:
        row = service.set_status(session, principal, feeder, der_id, locked_out=locked_out)
        return DerPublic.model_validate(row)

    set_status.__doc__ = doc
    router.post(
        f"/feeders/{{feeder}}/ders/{{der_id}}/{action}",
        response_model=DerPublic,
        responses=_NOT_FOUND,
        name=f"{action}_der",
    )(set_status)


_lockout(True, "lockout", "Lock a DER out: the optimiser leaves it as it runs now (operator).")
_lockout(False, "release", "Release a locked-out DER back to ``available`` (operator).")


@router.put(
    "/feeders/{feeder}/ders/{der_id}/override",
    response_model=DerPublic,
    responses={
        **_NOT_FOUND,
        409: {"description": "The DER is locked out or offline"},
        422: {"description": "The set-point is outside the DER's capability (limit named)"},
    },
    openapi_extra=body_doc("OverrideSet"),
)
def set_override(
    principal: Operator,
    session: SessionDep,
    feeder: FeederName,
    der_id: DerId,
    body: Annotated[OverrideSet, Depends(json_body(OverrideSet))],
) -> DerPublic:
    """Fix the DER at ``p_mw``/``q_mvar`` in every later dispatch (operator); the set-point
    must lie within the DER's active-power range and its reactive capability at that power
    (422 naming the limit), and the DER must be available (409 when locked out or offline)."""
    try:
        row = service.set_override(session, principal, feeder, der_id, (body.p_mw, body.q_mvar))
    except OutsideCapabilityError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return DerPublic.model_validate(row)


@router.delete(
    "/feeders/{feeder}/ders/{der_id}/override", response_model=DerPublic, responses=_NOT_FOUND
)
def clear_override(
    principal: Operator, session: SessionDep, feeder: FeederName, der_id: DerId
) -> DerPublic:
    """Give the DER back to the optimiser (operator)."""
    return DerPublic.model_validate(service.set_override(session, principal, feeder, der_id, None))


def _aspect(name: str, model: type[DerCapabilityPublic | DerAvailabilityPublic], doc: str) -> None:
    """Add the route ``get_<name>`` that reads the ``name`` view (``model``) of a DER."""

    def read(
        _: Viewer, session: SessionDep, feeder: FeederName, der_id: DerId
    ) -> DerCapabilityPublic | DerAvailabilityPublic:
        return model.of(service.get(session, feeder, der_id))

    read.__doc__ = doc
    router.get(
        f"/feeders/{{feeder}}/ders/{{der_id}}/{name}",
        response_model=model,
        responses=_NOT_FOUND,
        name=f"get_{name}",
    )(read)


_aspect(
    "capability",
    DerCapabilityPublic,
    "The DER's ratings [MW], [MWh], [MVA] and reactive capability.",
)


@router.put(
    "/feeders/{feeder}/ders/{der_id}/capability",
    response_model=DerCapabilityPublic,
    responses={
        **_NOT_FOUND,
        400: {
            "description": "A field its type does not have, or a "
            "record that fails validation (named)"
        },
    },
    openapi_extra=body_doc("DerCapabilityUpdate"),
)
def set_capability(
    principal: Adms,
    session: SessionDep,
    feeder: FeederName,
    der_id: DerId,
    body: Annotated[DerCapabilityUpdate, Depends(json_body(DerCapabilityUpdate))],
) -> DerCapabilityPublic:
    """Change the DER's ratings (adms): only the given fields; the DER is re-validated."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    row = service.set_capability(session, principal, feeder, der_id, changes)
    return DerCapabilityPublic.of(row)


_aspect("availability", DerAvailabilityPublic, "The DER's status and what it can do now.")


@router.put(
    "/feeders/{feeder}/ders/{der_id}/availability",
    response_model=DerAvailabilityPublic,
    responses={
        **_NOT_FOUND,
        400: {
            "description": "A field its type does not have, or a record that fails "
            "validation (named)"
        },
        409: {"description": "The DER is locked out by an operator"},
    },
    openapi_extra=body_doc("DerAvailabilityUpdate"),
)
def set_availability(
    principal: OperatorOrAdms,
    session: SessionDep,
    feeder: FeederName,
    der_id: DerId,
    body: Annotated[DerAvailabilityUpdate, Depends(json_body(DerAvailabilityUpdate))],
) -> DerAvailabilityPublic:
    """Declare the DER available or offline and/or what it can do now (operator, adms);
    taking it offline cancels its pending commands."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    status_ = changes.pop("status", None)
    row = service.set_availability(session, principal, feeder, der_id, status_, changes)
    return DerAvailabilityPublic.of(row)
