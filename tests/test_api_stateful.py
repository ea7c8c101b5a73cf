"""Stateful schemathesis over the service's OpenAPI links (:mod:`api.links`), against the live
app (uvicorn on SQLite and on a real PostgreSQL server, real HTTP, an admin key).

Scenarios chain the operations as a client does: load a feeder (``POST /feeders``, or the first
of ``GET /feeders``), register a DER and use its id in the DER routes, request a dispatch and
read its run, schedule, envelopes and diagnosis, approve or reject the schedule, create an API
key and revoke it, acknowledge an alarm. Zero server errors (5xx), zero undocumented status
codes and zero response-schema violations are allowed.

Bounded: a few dozen scenarios of a few steps; every feeder loaded is ``baran-wu-33``, every
DER registered a valid PV record (under the generated id), so that the DER routes are reached,
and every dispatch requested is one inline 15-min period of the model as given;
hosting-capacity studies (minutes of power flows on a real feeder) are left to
``test_api_schemathesis.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hostile_probes import log_errors
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from payloads import pv_body
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_fixtures import BACKENDS, ApiServer, served

FEEDER = "stateful"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: scenarios and steps per scenario, per backend (PostgreSQL: the second backend, fewer)
SCENARIOS = {"sqlite": 30, "postgresql": 15}
STEPS = 8
#: operations left out: a study runs power flows for minutes on a real feeder
EXCLUDED = "hosting-capacity"
#: what every dispatch requested by a scenario is made to be: one inline 15-min period
CHEAP_DISPATCH = {"horizon_h": 0.25, "step_minutes": 15, "snapshot": True, "execution": "inline"}
PV = pv_body("pv-stateful")


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ApiServer]]:
    """The API on a fresh database of each backend with one feeder and one DER."""
    backend = str(request.param)
    with served(tmp_path_factory, backend, f"stateful-{backend}") as server:
        server.load_feeder(FEEDER, "baran-wu-33")
        with server.client("admin") as admin:
            assert admin.post(f"/feeders/{FEEDER}/ders", json=PV).status_code == 201
        yield backend, server


def _links(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    response = doc["paths"][f"/api/v1{path}"][method]["responses"][status]
    links: dict[str, Any] = response.get("links", {})
    return links


def _operation_id(doc: dict[str, Any], path: str, method: str) -> str:
    return str(doc["paths"][f"/api/v1{path}"][method]["operationId"])


def test_the_openapi_document_links_creations_to_their_resources(
    service: tuple[str, ApiServer],
) -> None:
    _, server = service
    doc = httpx.get(server.base + "/api/v1/openapi.json").json()
    feeder = _links(doc, "/feeders", "post", "201")["GetFeeder"]
    assert feeder["operationId"] == _operation_id(doc, "/feeders/{feeder}", "get")
    assert feeder["parameters"] == {"feeder": "$response.body#/name"}
    der = _links(doc, "/feeders/{feeder}/ders", "post", "201")
    assert {"GetDer", "ReplaceDer", "DeleteDer", "LockOutDer", "SetOverride"} <= set(der)
    assert der["GetDer"]["parameters"] == {
        "feeder": "$request.path.feeder",
        "der_id": "$response.body#/der_id",
    }
    for status in ("201", "202"):
        run = _links(doc, "/feeders/{feeder}/dispatch-runs", "post", status)
        assert run["GetRunSchedule"]["parameters"] == {"run_id": "$response.body#/run_id"}
        assert run["GetRun"]["operationId"] == _operation_id(doc, "/dispatch-runs/{run_id}", "get")
    schedule = _links(doc, "/dispatch-runs/{run_id}/schedule", "get", "200")
    assert schedule["ApproveSchedule"]["parameters"]["schedule_id"] == "$response.body#/schedule_id"
    key = _links(doc, "/keys", "post", "201")["RevokeKey"]
    assert key["operationId"] == _operation_id(doc, "/keys/{name}", "delete")
    group = _links(doc, "/feeders/{feeder}/der-groups", "post", "201")
    assert group["GetGroup"]["parameters"]["name"] == "$response.body#/name"
    assert "AcknowledgeAlarm" in _links(doc, "/alarms", "get", "200")


def test_stateful_run_finds_no_server_error_and_no_schema_violation(
    service: tuple[str, ApiServer],
) -> None:
    backend, server = service
    schema = schemathesis.openapi.from_url(server.base + "/api/v1/openapi.json")
    schema = schema.exclude(path_regex=EXCLUDED)
    headers = {"X-API-Key": server.keys["admin"]}
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    answered: set[str] = set()  # operations with a path parameter that answered 2xx
    scenarios = 0

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        """The service's links, with an admin key, cheap feeders and dispatches."""

        def before_call(self, case: Any) -> None:
            if not isinstance(case.body, dict):
                return
            if case.method == "POST" and case.path == "/api/v1/feeders":
                case.body["builtin"] = "baran-wu-33"
            elif case.method == "POST" and case.path.endswith("/dispatch-runs"):
                case.body.update(CHEAP_DISPATCH)
            elif case.method == "POST" and case.path.endswith("/ders"):  # a valid PV record
                der_id = case.body.get("der_id")
                case.body = {**PV, "der_id": der_id if isinstance(der_id, str) else "pv-1"}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": server.base, "headers": headers, "timeout": 60}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            label = case.operation.label
            calls[label] = calls.get(label, 0) + 1
            if "{" in label and 200 <= response.status_code < 300:
                answered.add(label)
            try:
                case.validate_response(response, checks=CHECKS)
            except (FailureGroup, AssertionError) as exc:
                key = f"{label} -> {response.status_code}"
                failures.setdefault(key, f"{str(exc)[:800]}\n{case.as_curl_command(headers)}")

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1

    wanted = SCENARIOS[backend]
    for _ in range(5):
        # the live service's state changes which links apply between scenarios (Flaky): run
        # on, as schemathesis' own runner does
        with contextlib.suppress(Flaky):
            Scenarios.run(
                settings=settings(
                    max_examples=wanted - scenarios,
                    stateful_step_count=STEPS,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        if scenarios >= wanted:
            break
    log = Path(server.log).read_text()
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in sorted(failures.items()))
    assert scenarios >= wanted, (scenarios, calls)
    assert sum(calls.values()) >= wanted * 2, calls
    # a generated id never names a resource: a 2xx on a path parameter is a followed link
    assert len(answered) >= 3, (answered, calls)
    errors = "\n".join(log_errors(Path(server.log)))
    assert "Traceback" not in log, f"exceptions in the {backend} server log:\n{errors}"
