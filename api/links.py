"""OpenAPI links between the operations that create (or list) a resource and those that use it.

A client (and a stateful test such as schemathesis') follows a link from a response to the
next request: loading a feeder gives the ``feeder`` of its routes (``$response.body#/name``),
registering a DER its ``der_id``, requesting a dispatch its ``run_id``, a run's schedule the
``schedule_id`` to approve or reject, creating an API key the ``name`` to revoke. Lists link
their first item (``$response.body#/0/...``). The field names are those of the response models
of :mod:`api.schemas`.

:func:`add_links` adds them to the document FastAPI generates; a link whose source or target
operation the document does not have is left out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

PREFIX = "/api/v1"
FEEDER = f"{PREFIX}/feeders/{{feeder}}"
DER = f"{FEEDER}/ders/{{der_id}}"
GROUP = f"{FEEDER}/der-groups/{{name}}"
RUN = f"{PREFIX}/dispatch-runs/{{run_id}}"
STUDY = f"{PREFIX}/hosting-capacity/{{run_id}}"
SCHEDULE = f"{FEEDER}/schedules/{{schedule_id}}"


class Link(NamedTuple):
    """A link from the ``status`` response of ``source`` to the operation ``target``."""

    name: str
    source: tuple[str, str]
    status: str
    target: tuple[str, str]
    parameters: dict[str, str]


#: routes of a feeder a loaded feeder's name leads to
FEEDER_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("GetFeeder", "get", FEEDER),
    ("GetLocation", "get", f"{FEEDER}/location"),
    ("SetLocation", "put", f"{FEEDER}/location"),
    ("ResetLocation", "delete", f"{FEEDER}/location"),
    ("GetTopology", "get", f"{FEEDER}/topology"),
    ("GetVersions", "get", f"{FEEDER}/versions"),
    ("SetMode", "put", f"{FEEDER}/mode"),
    ("ListDers", "get", f"{FEEDER}/ders"),
    ("CreateDer", "post", f"{FEEDER}/ders"),
    ("ListGroups", "get", f"{FEEDER}/der-groups"),
    ("CreateGroup", "post", f"{FEEDER}/der-groups"),
    ("IngestTelemetry", "post", f"{FEEDER}/telemetry"),
    ("ReadTelemetry", "get", f"{FEEDER}/telemetry"),
    ("PowerFlow", "post", f"{FEEDER}/powerflow"),
    ("RequestDispatch", "post", f"{FEEDER}/dispatch-runs"),
    ("ListDispatchRuns", "get", f"{FEEDER}/dispatch-runs"),
    ("GetActiveSchedule", "get", f"{FEEDER}/schedules/active"),
    ("GetActiveEnvelopes", "get", f"{FEEDER}/envelopes/active"),
    ("RequestHostingCapacity", "post", f"{FEEDER}/hosting-capacity"),
    ("ListHostingCapacity", "get", f"{FEEDER}/hosting-capacity"),
    ("ListFeederAlarms", "get", f"{FEEDER}/alarms"),
    ("ListCommands", "get", f"{FEEDER}/commands"),
)
#: routes of a DER a registered DER's id leads to
DER_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("GetDer", "get", DER),
    ("ReplaceDer", "put", DER),
    ("DeleteDer", "delete", DER),
    ("LockOutDer", "post", f"{DER}/lockout"),
    ("ReleaseDer", "post", f"{DER}/release"),
    ("SetOverride", "put", f"{DER}/override"),
    ("ClearOverride", "delete", f"{DER}/override"),
    ("GetCapability", "get", f"{DER}/capability"),
    ("SetCapability", "put", f"{DER}/capability"),
    ("GetAvailability", "get", f"{DER}/availability"),
    ("SetAvailability", "put", f"{DER}/availability"),
)
#: routes of a dispatch run its id leads to
RUN_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("GetRun", "get", RUN),
    ("GetRunSchedule", "get", f"{RUN}/schedule"),
    ("GetRunEnvelopes", "get", f"{RUN}/envelopes"),
    ("GetRunDiagnosis", "get", f"{RUN}/diagnosis"),
    ("CancelRun", "post", f"{RUN}/cancel"),
)
#: routes of a DER group its name leads to
GROUP_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("GetGroup", "get", GROUP),
    ("ReplaceGroup", "put", GROUP),
    ("DeleteGroup", "delete", GROUP),
)
#: routes of a schedule its id leads to
SCHEDULE_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("ApproveSchedule", "post", f"{SCHEDULE}/approve"),
    ("RejectSchedule", "post", f"{SCHEDULE}/reject"),
)
#: routes of a hosting-capacity study its id leads to
STUDY_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("GetStudy", "get", STUDY),
    ("CancelStudy", "post", f"{STUDY}/cancel"),
)


def _fan_out(
    source: tuple[str, str],
    status: str,
    targets: tuple[tuple[str, str, str], ...],
    parameters: dict[str, str],
) -> list[Link]:
    return [
        Link(name, source, status, (method, path), parameters) for name, method, path in targets
    ]


def links() -> list[Link]:
    """Every link of the API."""
    found: list[Link] = []
    by_name = {"feeder": "$response.body#/name"}
    first = {"feeder": "$response.body#/0/name"}
    found += _fan_out(("post", f"{PREFIX}/feeders"), "201", FEEDER_TARGETS, by_name)
    found += _fan_out(("get", f"{PREFIX}/feeders"), "200", FEEDER_TARGETS, first)
    found += _fan_out(("get", FEEDER), "200", FEEDER_TARGETS[1:], by_name)
    der = {"feeder": "$request.path.feeder", "der_id": "$response.body#/der_id"}
    found += _fan_out(("post", f"{FEEDER}/ders"), "201", DER_TARGETS, der)
    found += _fan_out(("get", DER), "200", DER_TARGETS[1:], der)
    first_der = {"feeder": "$request.path.feeder", "der_id": "$response.body#/0/der_id"}
    found += _fan_out(("get", f"{FEEDER}/ders"), "200", DER_TARGETS, first_der)
    run = {"run_id": "$response.body#/run_id"}
    for status in ("201", "202"):
        found += _fan_out(("post", f"{FEEDER}/dispatch-runs"), status, RUN_TARGETS, run)
    found += _fan_out(
        ("get", f"{FEEDER}/dispatch-runs"),
        "200",
        RUN_TARGETS,
        {"run_id": "$response.body#/0/run_id"},
    )
    found += _fan_out(("get", RUN), "200", RUN_TARGETS[1:], run)
    schedule = {"feeder": "$response.body#/feeder", "schedule_id": "$response.body#/schedule_id"}
    found += _fan_out(("get", f"{RUN}/schedule"), "200", SCHEDULE_TARGETS, schedule)
    found += _fan_out(("get", f"{FEEDER}/schedules/active"), "200", SCHEDULE_TARGETS, schedule)
    group = {"feeder": "$request.path.feeder", "name": "$response.body#/name"}
    found += _fan_out(("post", f"{FEEDER}/der-groups"), "201", GROUP_TARGETS, group)
    study = {"run_id": "$response.body#/run_id"}
    found += _fan_out(("post", f"{FEEDER}/hosting-capacity"), "202", STUDY_TARGETS, study)
    found += _fan_out(
        ("get", f"{FEEDER}/hosting-capacity"),
        "200",
        STUDY_TARGETS,
        {"run_id": "$response.body#/0/run_id"},
    )
    switch = {
        "feeder": "$response.body#/feeder",
        "switch_id": "$response.body#/switches/0/switch_id",
    }
    for name, action in (("OpenSwitch", "open"), ("CloseSwitch", "close")):
        target = ("post", f"{FEEDER}/switches/{{switch_id}}/{action}")
        found.append(Link(name, ("get", f"{FEEDER}/topology"), "200", target, switch))
    key = ("delete", f"{PREFIX}/keys/{{name}}")
    found.append(
        Link("RevokeKey", ("post", f"{PREFIX}/keys"), "201", key, {"name": "$response.body#/name"})
    )
    acknowledge = ("post", f"{PREFIX}/alarms/{{alarm_id}}/acknowledge")
    alarm = {"alarm_id": "$response.body#/0/alarm_id"}
    found.append(Link("AcknowledgeAlarm", ("get", f"{PREFIX}/alarms"), "200", acknowledge, alarm))
    found.append(Link("AcknowledgeAlarm", ("get", f"{FEEDER}/alarms"), "200", acknowledge, alarm))
    return found


def _operation(openapi: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    operation = openapi.get("paths", {}).get(path, {}).get(method)
    return operation if isinstance(operation, dict) else None


def add_links(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add :func:`links` to the responses of ``openapi`` (in place; returned).

    Parameters
    ----------
    openapi : dict
        An OpenAPI 3 document whose operations have an ``operationId``.

    Returns
    -------
    dict
        ``openapi``, each link under ``paths.<source>.<method>.responses.<status>.links`` by
        the target's ``operationId``; links whose source, source response or target is not in
        the document are left out.
    """
    for link in links():
        source = _operation(openapi, *link.source)
        target = _operation(openapi, *link.target)
        if source is None or target is None or "operationId" not in target:
            continue
        response = source.get("responses", {}).get(link.status)
        if not isinstance(response, dict):
            continue
        method, path = link.target
        response.setdefault("links", {})[link.name] = {
            "operationId": target["operationId"],
            "parameters": dict(link.parameters),
            "description": f"{method.upper()} {path}",
        }
    return openapi
