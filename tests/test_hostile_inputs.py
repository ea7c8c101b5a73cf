"""A hostile-input run against the live service (uvicorn, real HTTP, on SQLite and on a real
PostgreSQL server), kept as tests so that what issue 11's tester found stays fixed.

Every operation of the OpenAPI document gets a family of hostile requests
(:mod:`hostile_probes`): hostile ids in its path, hostile query values, broken bodies and
hostile values in every field: all of them on SQLite, a stratified subset on PostgreSQL (every
kind of probe for every operation, every hostile value at least once; the requests and the code
that answers them are the same on both). None may answer 5xx and the server log may hold no
traceback; refusals whose status is specified (key in the query string 400, no key 401, an
undocumented method 405) must answer it. The tester's own cases are asserted one by one with
their exact status, at request time: a bad dispatch request is refused (422), never accepted
(201) to fail as a job afterwards, and no dispatch run of the session ends ``failed``. An
uploaded pandapower JSON naming a module (``_module``) must not get it imported: the server
runs with sentinel modules on its ``PYTHONPATH`` (one per file that names one) that leave a
marker file when imported. Requests larger than a feeder file may be (50 MiB) are 413.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hostile_probes import DEEP, LONG, log_errors, send, stratified
from hostile_service import (
    DER,
    DISPATCH,
    FEEDER,
    MEASUREMENT,
    PV,
    UPLOAD,
    Target,
    all_probes,
    hostile_targets,
    real_values,
)
from hostile_uploads import UPLOADS, case4gs_json
from service_fixtures import BACKENDS

#: the backend that gets every probe; the others get the stratified subset (the requests
#: are the same on both, and SQLite answers them fastest)
FULL_SWEEP = "sqlite"


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    """The service on each backend, sentinel modules on its ``PYTHONPATH``."""
    with hostile_targets(tmp_path_factory) as running:
        yield running


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, targets: dict[str, Target]) -> Target:
    """The service on one backend."""
    return targets[request.param]


# -- the systematic run ------------------------------------------------------------------------


@dataclass
class Sweep:
    """What the hostile run found."""

    requests: int = 0
    seconds: float = 0.0
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def sweeps(targets: dict[str, Target]) -> dict[str, Sweep]:
    """The hostile run on each backend (once per module): every probe on
    :data:`FULL_SWEEP`, the stratified subset (:func:`hostile_probes.stratified`) on the
    others."""
    found = {}
    for backend, target in targets.items():
        sweep = Sweep()
        start = time.monotonic()
        sent = all_probes(target)
        if backend != FULL_SWEEP:
            sent = stratified(sent)
        with httpx.Client(base_url=target.server.base + "/api/v1", timeout=60) as client:
            for probe in sent:
                sweep.requests += 1
                response = send(client, target.server.keys, probe)
                if isinstance(response, str) or response.status_code >= 500:
                    answer = response if isinstance(response, str) else response.text[:300]
                    status = "-" if isinstance(response, str) else response.status_code
                    sweep.server_errors.append(f"{probe.describe()}\n    -> {status} {answer}")
                elif probe.expect is not None and response.status_code != probe.expect:
                    sweep.unexpected.append(
                        f"{probe.describe()}\n    -> {response.status_code} (expected "
                        f"{probe.expect}) {response.text[:200]}"
                    )
        sweep.seconds = time.monotonic() - start
        found[backend] = sweep
    return found


def test_hostile_run_sends_at_least_400_requests_per_backend(
    sweeps: dict[str, Sweep], targets: dict[str, Target]
) -> None:
    for backend, sweep in sweeps.items():
        assert sweep.requests >= 400, (backend, sweep.requests)
        operations = sum(len(ops) for ops in targets[backend].doc["paths"].values())
        assert operations >= 50, operations


def test_the_subset_sends_every_kind_to_every_operation_and_every_value(
    targets: dict[str, Target],
) -> None:
    every = all_probes(targets[FULL_SWEEP])
    subset = stratified(every)
    assert len(subset) < len(every) / 4, (len(subset), len(every))
    assert {(p.operation, p.kind) for p in subset} == {(p.operation, p.kind) for p in every}
    assert {(p.group, p.value) for p in subset} == {(p.group, p.value) for p in every}
    assert len({p.operation for p in every}) >= 50


def test_hostile_run_has_no_server_error(target: Target, sweeps: dict[str, Sweep]) -> None:
    sweep = sweeps[target.backend]
    shown = "\n".join(sweep.server_errors[:60])
    errors = "\n".join(log_errors(target.server.log)[:40])
    assert not sweep.server_errors, (
        f"{len(sweep.server_errors)} of {sweep.requests} hostile requests answered 5xx on "
        f"{target.backend}:\n{shown}\n\nexceptions in the server log:\n{errors}"
    )


def test_specified_refusals_answer_their_status(target: Target, sweeps: dict[str, Sweep]) -> None:
    sweep = sweeps[target.backend]
    shown = "\n".join(sweep.unexpected[:60])
    assert not sweep.unexpected, f"{len(sweep.unexpected)} on {target.backend}:\n{shown}"


# -- the tester's cases ----------------------------------------------------------------------


def _dispatch(**changes: Any) -> dict[str, Any]:
    return {**DISPATCH, **changes}


DEEP_DER = ("[" * DEEP + "]" * DEEP).encode()
DEEP_DER_OBJECTS = ('{"a":' * 3000 + "1" + "}" * 3000).encode()
DER_PATH = f"/feeders/{FEEDER}/ders"
TELEMETRY = f"/feeders/{FEEDER}/telemetry"
TEN_THOUSAND_AND_ONE = {"measurements": [MEASUREMENT] * 10_001}
#: more than a feeder file may have (50 MiB): no JSON request body may be larger
BIG_BYTES = 50 * 2**20 + 1
MEASURED_AT_1 = {"measurements": [{**MEASUREMENT, "measured_at": "0001-01-01T00:00:00+14:00"}]}


def _case(name: str, method: str, path: str, status: int, **kwargs: Any) -> Any:
    return pytest.param(name, method, path, kwargs, status, id=name)


#: the tester's cases: method, path (``dispatch``: the feeder's dispatch runs), keyword
#: arguments of the request (``role``: whose key, ``"@admin"``: the admin key), exact status
CASES = [
    _case(
        "dispatch-start-year-1",
        "POST",
        "dispatch",
        422,
        json=_dispatch(start="0001-01-01T00:00:00Z"),
    ),
    _case(
        "dispatch-start-year-9999",
        "POST",
        "dispatch",
        422,
        json=_dispatch(start="9999-12-31T23:00:00Z"),
    ),
    _case(
        "dispatch-start-year-1+14",
        "POST",
        "dispatch",
        422,
        json=_dispatch(start="0001-01-01T00:00:00+14:00"),
    ),
    _case(
        "dispatch-start-9999-12",
        "POST",
        "dispatch",
        422,
        json=_dispatch(start="9999-12-31T23:59:59-12:00"),
    ),
    _case(
        "dispatch-vm-min-above-max",
        "POST",
        "dispatch",
        422,
        json=_dispatch(vm_min_pu=1.5, vm_max_pu=1.05),
    ),
    _case("dispatch-zero-periods", "POST", "dispatch", 422, json=_dispatch(horizon_h=5e-324)),
    _case("dispatch-start-number", "POST", "dispatch", 422, json=_dispatch(start=12345)),
    _case("ders-post-deep-5000", "POST", DER_PATH, 422, content=DEEP_DER),
    _case("ders-post-deep-objects-3000", "POST", DER_PATH, 422, content=DEEP_DER_OBJECTS),
    _case("ders-put-deep-5000", "PUT", f"{DER_PATH}/{DER}", 422, content=DEEP_DER),
    _case("ders-put-deep-objects-3000", "PUT", f"{DER_PATH}/{DER}", 422, content=DEEP_DER_OBJECTS),
    _case(
        "commands-since-9999-12",
        "GET",
        f"/feeders/{FEEDER}/commands",
        422,
        params={"since": "9999-12-31T23:59:59-12:00"},
    ),
    _case(
        "telemetry-measured-at-1+14",
        "POST",
        f"/feeders/{FEEDER}/telemetry",
        422,
        json=MEASURED_AT_1,
    ),
    _case("der-id-slash", "POST", DER_PATH, 422, json={**PV, "der_id": "pv/1"}),
    _case("der-id-nul", "POST", DER_PATH, 422, json={**PV, "der_id": "pv\x001"}),
    _case("der-id-rtl", "POST", DER_PATH, 422, json={**PV, "der_id": "pv\u202e1"}),
    _case("der-id-5000", "POST", DER_PATH, 422, json={**PV, "der_id": LONG}),
    _case(
        "der-nameplate-1e308",
        "POST",
        DER_PATH,
        422,
        json={**PV, "der_id": "pv-big", "p_nameplate_mw": 1e308},
    ),
    _case("telemetry-10001-measurements", "POST", TELEMETRY, 422, json=TEN_THOUSAND_AND_ONE),
    _case("json-body-over-50-MiB", "POST", TELEMETRY, 413, content="@big"),
    _case("api-key-in-query-read", "GET", "/feeders", 400, params={"api_key": "@admin"}, role=None),
    _case(
        "api-key-in-query-change",
        "POST",
        DER_PATH,
        400,
        params={"api_key": "@admin"},
        json={**PV, "der_id": "pv-q"},
        role=None,
    ),
]


@pytest.mark.parametrize(("case", "method", "path", "kwargs", "status"), CASES)
def test_tester_case_is_refused_at_request_time(
    target: Target, case: str, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    arguments = dict(kwargs)
    role = arguments.pop("role", "admin")
    if "params" in arguments:
        keys = target.server.keys
        arguments["params"] = {
            k: keys["admin"] if v == "@admin" else v for k, v in arguments["params"].items()
        }
    if path == "dispatch":
        path = f"/feeders/{FEEDER}/dispatch-runs"
    if arguments.get("content") == "@big":
        padding = b"a" * BIG_BYTES
        arguments["content"] = b'{"measurements": [], "padding": "' + padding + b'"}'
        arguments["headers"] = {"Content-Type": "application/json"}
    with target.client(role) as client:
        response = client.request(method, path, **arguments)
    detail = response.text[:400]
    if response.status_code >= 500:
        detail += "\n" + "\n".join(log_errors(target.server.log)[-3:])
    assert response.status_code == status, f"{case}: {response.status_code} {detail}"


#: every variant on SQLite, those that name a module on PostgreSQL too (an upload costs
#: seconds of pandapower parsing, the same on both)
UPLOAD_CASES = [
    *(("sqlite", variant) for variant in sorted(UPLOADS)),
    *(("postgresql", v) for v in ("bus-is-a-string", "nested-module", "module-prefix")),
]


@pytest.mark.parametrize(("backend", "variant"), UPLOAD_CASES)
def test_hostile_pandapower_upload_is_422_and_imports_nothing(
    targets: dict[str, Target], backend: str, variant: str
) -> None:
    target = targets[backend]
    document = case4gs_json()
    UPLOADS[variant](document)
    params = {"name": f"up-{variant}", "format": "pandapower-json"}
    with target.client() as admin:
        response = admin.post(UPLOAD, params=params, content=json.dumps(document))
    assert response.status_code == 422, f"{variant}: {response.status_code} {response.text[:400]}"
    imported = sorted(path.name for path in target.markers.iterdir())
    assert not imported, f"{variant}: the upload imported {imported}"


def test_hostile_raw_uploads_are_4xx(target: Target) -> None:
    bodies = {
        "deep-5000": ("pandapower-json", b"[" * DEEP + b"]" * DEEP, 422),
        "deep-objects-5000": ("pandapower-json", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 422),
        "not-utf-8": ("pandapower-json", b'{"_module": "\xff"}', 422),
        "garbage-m": ("matpower", b"function mpc = x\n mpc.bus = [" + b"[" * DEEP, 422),
        "garbage-mat": ("matpower-mat", b"MATLAB 5.0 MAT-file" + b"\x00" * 200, 422),
    }
    with target.client() as admin:
        for name, (kind, content, status) in bodies.items():
            params = {"name": f"raw-{name}", "format": kind}
            response = admin.post(UPLOAD, params=params, content=content)
            assert response.status_code == status, (name, response.status_code, response.text)
            files = {"file": (f"{name}.json", content)}
            form = admin.post(UPLOAD, params={"name": f"form-{name}"}, files=files)
            assert 400 <= form.status_code < 500, (name, form.status_code, form.text)


def test_options_and_405_give_the_complete_allow(target: Target) -> None:
    wrong: list[str] = []
    templates = {
        re.compile(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(full)) + "$"): set(operations)
        for full, operations in target.doc["paths"].items()
    }
    with target.client() as admin:
        for full in target.doc["paths"]:
            path = full.removeprefix("/api/v1")
            for name, value in real_values(target)["*"].items():
                path = path.replace(f"{{{name}}}", value)
            # every route the path matches (``/feeders/upload`` is also ``/feeders/{feeder}``)
            methods = [
                m for rx, ops in templates.items() if rx.match(f"/api/v1{path}") for m in ops
            ]
            documented = {m.upper() for m in methods} | {"OPTIONS"}
            response = admin.options(path)
            allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m}
            if response.status_code != 204 or allow - {"HEAD"} != documented:
                wrong.append(f"OPTIONS {path}: {response.status_code} Allow={sorted(allow)}")
            response = admin.request("PATCH", path)
            allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m}
            if response.status_code != 405 or allow - {"HEAD"} != documented:
                wrong.append(f"PATCH {path}: {response.status_code} Allow={sorted(allow)}")
    assert not wrong, "\n".join(wrong)


def test_a_telemetry_batch_posted_twice_is_stored_once(target: Target) -> None:
    batch = {
        "measurements": [
            {**MEASUREMENT, "measured_at": "2024-06-21T09:40:00Z", "client_id": "twice-1"},
            {**MEASUREMENT, "measured_at": "2024-06-21T09:41:00Z"},
            {"measured_at": "2024-06-21T09:42:00+02:00", "p_mw": 1.5, "client_id": "twice-3"},
        ]
    }
    with target.client() as admin:
        first = admin.post(f"/feeders/{FEEDER}/telemetry", json=batch)
        second = admin.post(f"/feeders/{FEEDER}/telemetry", json=batch)
        stored = admin.get(f"/feeders/{FEEDER}/telemetry", params={"limit": 10_000}).json()
    assert first.status_code == 201 and first.json()["accepted"] == 3, first.text
    assert second.status_code == 201, second.text
    assert (second.json()["accepted"], second.json()["duplicates"]) == (0, 3), second.text
    times = {"2024-06-21T09:40:00", "2024-06-21T09:41:00", "2024-06-21T07:42:00"}
    copies = [m for m in stored if m["measured_at"][:19] in times]
    assert len(copies) == 3, copies


def test_no_dispatch_run_failed_and_nothing_was_imported(
    target: Target, sweeps: dict[str, Sweep]
) -> None:
    deadline = time.monotonic() + 30
    with target.client() as admin:
        while True:
            runs = admin.get(f"/feeders/{FEEDER}/dispatch-runs").json()
            busy = [r for r in runs if r["status"] in ("queued", "running", "cancelling")]
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    failed = [f"{r['request']} -> {r['error']}" for r in runs if r["status"] == "failed"]
    assert not failed, f"{len(failed)} dispatch runs failed:\n" + "\n".join(failed)
    imported = sorted(path.name for path in target.markers.iterdir())
    assert not imported, f"uploads imported {imported}"


def test_server_log_has_no_traceback(target: Target, sweeps: dict[str, Sweep]) -> None:
    log = target.server.log.read_text(errors="replace")
    errors = "\n".join(log_errors(target.server.log))
    assert "Traceback" not in log, f"exceptions in the {target.backend} server log:\n{errors}"
