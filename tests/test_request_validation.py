"""Validation at the door (issue 11, findings 4, 5 and 7), against the live service (uvicorn,
real HTTP, on SQLite and on a real PostgreSQL server), and the DER importers' share of it.

Every bad request is refused when it arrives (422 naming the field or the limit), never
accepted (201/202) to fail afterwards as a job, and never answered 500: date-times outside the
years :data:`~gridderms.bounds.DATETIME_YEARS` (also at the ends of the calendar with offsets),
numbers or dates without a time given as date-times, an inverted voltage band (also against
the service's default side), a horizon of no period, JSON nested deeper than
:data:`~gridderms.bounds.MAX_JSON_DEPTH`, ids outside :data:`~gridderms.bounds.NAME_PATTERN`
and powers above :data:`~gridderms.bounds.MAX_POWER_MW` (the same cap on create and on the
capability route).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from payloads import DISPATCH_1H, REACTIVE, ev_body, pv_body
from service_fixtures import BACKENDS, ApiServer, servers_per_backend

from gridderms.bounds import (
    DATETIME_YEARS,
    MAX_JSON_DEPTH,
    MAX_NAME_LENGTH,
    MAX_POWER_MW,
    JsonTooDeepError,
    check_json_depth,
)
from gridderms.ders import DerImportError, ders_from_csv, ders_from_json, ders_to_csv

FEEDER = "rv"
DER = "pv-rv"
PV = pv_body(DER)
EV = ev_body("ev-rv")
#: a valid job request: each case changes one field
DISPATCH = {**DISPATCH_1H, "execution": "job"}
DEEP = 5000
DEEP_ARRAYS = b"[" * DEEP + b"]" * DEEP
DEEP_OBJECTS = b'{"a":' * 3000 + b"1" + b"}" * 3000
JSON = {"content-type": "application/json"}
BAD_IDS = {
    "slash": "pv/1",
    "nul": "pv\x001",
    "rtl-override": "pv\u202e1",
    "201-chars": "p" * (MAX_NAME_LENGTH + 1),
    "5000-chars": "p" * 5000,
    "space": "pv 1",
}
CAP = f"{MAX_POWER_MW:g}"  # "10000", as pydantic names the bound


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ApiServer]]:
    """The API on each backend with the feeder ``rv`` (CIGRE MV with DERs) and a PV."""
    with servers_per_backend(tmp_path_factory, "rv-") as running:
        for server in running.values():
            server.load_feeder(FEEDER)
            with server.client("admin") as admin:
                created = admin.post(f"/feeders/{FEEDER}/ders", json=PV)
                assert created.status_code == 201, created.text
        yield running


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, servers: dict[str, ApiServer]) -> Iterator[ApiServer]:
    """The API on one backend; no traceback may reach its log during the test."""
    server = servers[request.param]
    before = server.log.read_text(errors="replace").count("Traceback")
    yield server
    time.sleep(0.2)
    log = server.log.read_text(errors="replace")
    assert log.count("Traceback") == before, log[-4000:]


def _refused(response: httpx.Response, *needles: str) -> list[dict[str, Any]]:
    """Assert a 422 whose detail names every one of ``needles``; return the detail."""
    assert response.status_code == 422, (response.status_code, response.text[:600])
    detail = response.json()["detail"]
    text = json.dumps(detail, ensure_ascii=False)
    for needle in needles:
        assert needle in text, (needle, text[:600])
    assert isinstance(detail, list)
    return detail


def _runs(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get(f"/feeders/{FEEDER}/dispatch-runs")
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()
    return runs


# -- finding 4: bad dispatch requests are refused at request time ---------------------------


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"start": "0001-01-01T00:00:00Z"}, ("start", "1900..2200")),
        ({"start": "9999-12-31T00:00:00Z"}, ("start", "1900..2200")),
        ({"start": "0001-01-01T00:00:00+14:00"}, ("start", "1900..2200")),
        ({"start": "9999-12-31T23:59:59-12:00"}, ("start", "1900..2200")),
        ({"start": 12345}, ("start", "not a number")),
        ({"start": "2024-06-21"}, ("start", "ISO 8601 date-time with a time")),
        ({"start": "12345"}, ("start", "ISO 8601")),
        ({"start": "2024-06-21T10:00:00"}, ("start", "timezone")),
        ({"vm_min_pu": 1.5, "vm_max_pu": 1.0}, ("vm_min_pu = 1.5 must be below vm_max_pu",)),
        ({"vm_min_pu": 1.2, "vm_max_pu": None}, ("vm_min_pu = 1.2", "(the default)")),
        ({"horizon_h": 5e-324}, ("horizon_h", "at least one period")),
        ({"horizon_h": 0.1}, ("horizon_h", "at least one period")),
        ({"head_import_max_mw": 1e308}, ("head_import_max_mw", CAP)),
        ({"cloud_cover_percent": [120.0, 0.0, 0.0, 0.0]}, ("cloud_cover_percent", "100")),
    ],
    ids=[
        "year-1",
        "year-9999",
        "year-1+14",
        "year-9999-12",
        "number",
        "date-only",
        "number-text",
        "no-offset",
        "band-inverted",
        "band-against-default",
        "zero-periods",
        "less-than-a-step",
        "head-limit-1e308",
        "cloud-cover-120",
    ],
)
def test_bad_dispatch_request_is_refused_not_queued(
    server: ApiServer, change: dict[str, Any], needles: tuple[str, ...]
) -> None:
    body = {k: v for k, v in {**DISPATCH, **change}.items() if v is not None}
    with server.client("adms") as adms:
        before = len(_runs(adms))
        _refused(adms.post(f"/feeders/{FEEDER}/dispatch-runs", json=body), *needles)
        assert len(_runs(adms)) == before  # no run was queued to fail later


@pytest.mark.parametrize(
    "start", ["2200-12-31T23:59:59-12:00", "1900-01-01T00:00:00+14:00", "2024-06-21T12:00+02:00"]
)
def test_dispatch_start_inside_the_years_passes_validation(server: ApiServer, start: str) -> None:
    """Valid to the last second of the years at any offset: the request reaches the feeder's
    version check (409 for a stale version), so nothing is queued."""
    body = {**DISPATCH, "start": start, "expected_feeder_version": 999}
    with server.client("adms") as adms:
        response = adms.post(f"/feeders/{FEEDER}/dispatch-runs", json=body)
        assert response.status_code == 409, response.text


def test_hosting_capacity_band_against_the_default_is_refused(server: ApiServer) -> None:
    with server.client("adms") as adms:
        response = adms.post(
            f"/feeders/{FEEDER}/hosting-capacity", json={"mode": "gen", "vm_max_pu": 0.5}
        )
        _refused(response, "vm_max_pu = 0.5", "(the default)")
        both = {"mode": "gen", "vm_min_pu": 1.2, "vm_max_pu": 1.1}
        _refused(adms.post(f"/feeders/{FEEDER}/hosting-capacity", json=both), "vm_min_pu")


# -- finding 5: deep nesting and calendar ends are 422, never 500 ---------------------------


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays-5000", "objects-3000"])
def test_deep_json_is_refused_naming_the_limit(server: ApiServer, body: bytes) -> None:
    limit = f"limit of {MAX_JSON_DEPTH} levels"
    with server.client("admin") as admin:
        for method, path in (
            ("POST", f"/feeders/{FEEDER}/ders"),
            ("PUT", f"/feeders/{FEEDER}/ders/{DER}"),
            ("POST", f"/feeders/{FEEDER}/dispatch-runs"),
            ("POST", f"/feeders/{FEEDER}/telemetry"),
            ("POST", f"/feeders/{FEEDER}/der-groups"),
            ("PUT", f"/feeders/{FEEDER}/ders/{DER}/capability"),
            ("POST", "/keys"),
        ):
            response = admin.request(method, path, content=body, headers=JSON)
            detail = _refused(response, limit)
            assert detail[0]["type"] == "json_too_deep", (method, path, detail)
        upload = admin.post(
            "/feeders/upload",
            params={"name": "rv-deep", "format": "pandapower-json"},
            content=body,
            headers=JSON,
        )
        _refused(upload, limit)


def test_json_at_the_depth_limit_is_parsed(server: ApiServer) -> None:
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    with server.client("admin") as admin:
        response = admin.post(f"/feeders/{FEEDER}/ders", content=nested, headers=JSON)
        detail = _refused(response, "expected a JSON object")
        assert detail[0]["type"] != "json_too_deep"


def test_calendar_ends_in_queries_are_refused(server: ApiServer) -> None:
    with server.client("viewer") as viewer:
        for since in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "12345"):
            response = viewer.get(f"/feeders/{FEEDER}/commands", params={"since": since})
            detail = _refused(response, "since")
            assert detail[0]["loc"] == ["query", "since"]
        fine = viewer.get(f"/feeders/{FEEDER}/commands", params={"since": "2024-06-21T10:00Z"})
        assert fine.status_code == 200, fine.text
        for name in ("since", "until"):
            response = viewer.get("/audit", params={name: "9999-12-31T23:59:59-12:00"})
            _refused(response, name, "1900..2200")


@pytest.mark.parametrize(
    ("measured_at", "needle"),
    [
        ("0001-01-01T00:00:00+14:00", "1900..2200"),
        ("9999-12-31T23:59:59-12:00", "1900..2200"),
        (12345, "not a number"),
        ("2024-06-21", "with a time"),
    ],
    ids=["year-1+14", "year-9999-12", "number", "date-only"],
)
def test_bad_measured_at_is_refused(server: ApiServer, measured_at: Any, needle: str) -> None:
    batch = {"measurements": [{"der_id": DER, "measured_at": measured_at, "p_mw": 0.01}]}
    with server.client("adms") as adms:
        response = adms.post(f"/feeders/{FEEDER}/telemetry", json=batch)
        detail = _refused(response, "measured_at", needle)
        assert detail[0]["loc"] == ["body", "measurements", 0, "measured_at"]


def test_der_record_times_outside_the_years_are_refused(server: ApiServer) -> None:
    with server.client("adms") as adms:
        for field, value in (
            ("arrival", "0001-01-01T00:00:00+14:00"),
            ("departure", "9999-12-31T23:59:59-12:00"),
            ("arrival", 12345),
        ):
            response = adms.post(f"/feeders/{FEEDER}/ders", json={**EV, field: value})
            _refused(response, f"field '{field}'")
        created = adms.post(f"/feeders/{FEEDER}/ders", json=EV)
        assert created.status_code == 201, created.text
        update = {"arrival": "9999-12-31T23:59:59-12:00"}
        response = adms.put(f"/feeders/{FEEDER}/ders/ev-rv/availability", json=update)
        _refused(response, "arrival", f"{DATETIME_YEARS[0]}..{DATETIME_YEARS[1]}")
        assert adms.delete(f"/feeders/{FEEDER}/ders/ev-rv").status_code == 204


# -- finding 7: ids of the name pattern, one power cap ---------------------------------------


@pytest.mark.parametrize("der_id", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_bad_der_id_is_refused(server: ApiServer, der_id: str) -> None:
    measurement = {"der_id": der_id, "measured_at": "2024-06-21T10:00:00Z"}
    group = {"name": "g-rv", "by": "custom", "members": [der_id]}
    with server.client("adms") as adms:
        response = adms.post(f"/feeders/{FEEDER}/ders", json={**PV, "der_id": der_id})
        _refused(response, "der_id")
        response = adms.post(f"/feeders/{FEEDER}/telemetry", json={"measurements": [measurement]})
        assert _refused(response)[0]["loc"] == ["body", "measurements", 0, "der_id"]
        response = adms.post(f"/feeders/{FEEDER}/der-groups", json=group)
        assert _refused(response)[0]["loc"] == ["body", "members", 0]
        listed = [d["der_id"] for d in adms.get(f"/feeders/{FEEDER}/ders").json()]
        assert der_id not in listed


def test_der_id_message_names_the_character_escaped(server: ApiServer) -> None:
    with server.client("adms") as adms:
        response = adms.post(f"/feeders/{FEEDER}/ders", json={**PV, "der_id": "pv\u202e1"})
        _refused(response, "der_id", "U+202E", "\\u202e")
        assert "\u202e" not in response.text
        response = adms.post(f"/feeders/{FEEDER}/ders", json={**PV, "der_id": "p" * 5000})
        _refused(response, "der_id", "5000 characters", f"at most {MAX_NAME_LENGTH}")
        assert len(response.text) < 1000  # the 5,000 characters are not echoed


def test_longest_der_id_is_usable_end_to_end(server: ApiServer) -> None:
    der_id = "p" * MAX_NAME_LENGTH
    with server.client("admin") as admin:
        created = admin.post(f"/feeders/{FEEDER}/ders", json={**PV, "der_id": der_id})
        assert created.status_code == 201, created.text
        batch = {"measurements": [{"der_id": der_id, "measured_at": "2024-06-21T09:55:00Z"}]}
        assert admin.post(f"/feeders/{FEEDER}/telemetry", json=batch).status_code == 201
        assert admin.post(f"/feeders/{FEEDER}/ders/{der_id}/lockout").status_code == 200
        assert admin.post(f"/feeders/{FEEDER}/ders/{der_id}/release").status_code == 200
        assert admin.delete(f"/feeders/{FEEDER}/ders/{der_id}").status_code == 204


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "roof\x00"),
        ("name", "roof\u202e"),
        ("name", "r" * 5000),
        ("tags", ["roof\x00"]),
    ],
    ids=["name-nul", "name-rtl", "name-5000", "tag-nul"],
)
def test_der_text_with_control_characters_is_refused(
    server: ApiServer, field: str, value: Any
) -> None:
    """PostgreSQL cannot store a NUL in a JSON column: refused at the door, not a 500."""
    with server.client("adms") as adms:
        record = {**PV, "der_id": "pv-text", field: value}
        _refused(adms.post(f"/feeders/{FEEDER}/ders", json=record), field[:3])
        _refused(adms.put(f"/feeders/{FEEDER}/ders/{DER}", json={**PV, field: value}), field[:3])
        group = {"by": "tag", "value": "roof\x00"}
        _refused(adms.post(f"/feeders/{FEEDER}/der-groups", json={**group, "name": "g"}), "value")
        fine = {**PV, "der_id": "pv-text", "name": "Dach Müller / Süd"}
        assert adms.post(f"/feeders/{FEEDER}/ders", json=fine).status_code == 201
        assert adms.delete(f"/feeders/{FEEDER}/ders/pv-text").status_code == 204


@pytest.mark.parametrize("name", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_bad_names_are_refused(server: ApiServer, name: str) -> None:
    with server.client("admin") as admin:
        group = {"name": name, "by": "type", "value": "pv"}
        _refused(admin.post(f"/feeders/{FEEDER}/der-groups", json=group), "name")
        _refused(admin.post("/keys", json={"name": name, "role": "viewer"}), "name")
        feeder = {"builtin": "cigre-mv-der", "name": name}
        _refused(admin.post("/feeders", json=feeder), "name")
        measurement = {"measured_at": "2024-06-21T10:00:00Z", "client_id": name}
        response = admin.post(f"/feeders/{FEEDER}/telemetry", json={"measurements": [measurement]})
        _refused(response, "client_id")


@pytest.mark.parametrize(
    ("field", "record"),
    [
        ("p_nameplate_mw", {**PV, "der_id": "pv-big", "p_nameplate_mw": 1e308}),
        ("p_nameplate_mw", {**PV, "der_id": "pv-big", "p_nameplate_mw": MAX_POWER_MW * 1.01}),
        ("s_rated_mva", {**PV, "der_id": "pv-big", "reactive": {**REACTIVE, "s_rated_mva": 1e9}}),
        ("p_max_mw", {**EV, "der_id": "ev-big", "p_max_mw": 1e308}),
    ],
    ids=["nameplate-1e308", "nameplate-above-cap", "s-rated-1e9", "ev-1e308"],
)
def test_power_above_the_cap_is_refused_naming_it(
    server: ApiServer, field: str, record: dict[str, Any]
) -> None:
    with server.client("adms") as adms:
        _refused(adms.post(f"/feeders/{FEEDER}/ders", json=record), field, CAP)


def test_create_and_capability_route_share_the_cap(server: ApiServer) -> None:
    with server.client("adms") as adms:
        created = _refused(
            adms.post(
                f"/feeders/{FEEDER}/ders", json={**PV, "der_id": "pv-cap", "p_nameplate_mw": 1e308}
            ),
            CAP,
        )
        updated = _refused(
            adms.put(f"/feeders/{FEEDER}/ders/{DER}/capability", json={"p_nameplate_mw": 1e308}),
            CAP,
        )
        assert "less than or equal to " + CAP in created[0]["msg"]
        assert "less than or equal to " + CAP in updated[0]["msg"]
        at_cap = {**PV, "der_id": "pv-cap", "p_nameplate_mw": MAX_POWER_MW}
        assert adms.post(f"/feeders/{FEEDER}/ders", json=at_cap).status_code == 201
        assert adms.delete(f"/feeders/{FEEDER}/ders/pv-cap").status_code == 204


# -- the importers -------------------------------------------------------------------------


def _pv_items(bad_id: str) -> list[dict[str, Any]]:
    return [{**PV, "der_id": "pv-ok"}, {**PV, "der_id": bad_id}]


@pytest.mark.parametrize("der_id", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_json_import_names_the_item_with_a_bad_id(tmp_path: Path, der_id: str) -> None:
    path = tmp_path / "ders.json"
    path.write_text(json.dumps(_pv_items(der_id)), encoding="utf-8")
    with pytest.raises(DerImportError) as info:
        ders_from_json(path)
    message = str(info.value)
    assert message.startswith(f"{path} item 2: der_id "), message
    assert der_id not in message or (len(der_id) < 40 and der_id.isprintable())


@pytest.mark.parametrize(
    "der_id",
    [BAD_IDS[k] for k in ("slash", "rtl-override", "201-chars", "space")],
    ids=["slash", "rtl-override", "201-chars", "space"],
)
def test_csv_import_names_the_row_with_a_bad_id(tmp_path: Path, der_id: str) -> None:
    good = ders_from_json(json.dumps([{**PV, "der_id": "pv-ok"}, {**PV, "der_id": "pv-2"}]))
    path = tmp_path / "ders.csv"
    ders_to_csv(good, path)
    text = path.read_text(encoding="utf-8").replace("pv-2,", f'"{der_id}",', 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DerImportError) as info:
        ders_from_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path} row 2: der_id "), message


def test_csv_import_refuses_a_nul_in_an_id(tmp_path: Path) -> None:
    good = ders_from_json(json.dumps([{**PV, "der_id": "pv-ok"}, {**PV, "der_id": "pv-2"}]))
    path = tmp_path / "ders.csv"
    ders_to_csv(good, path)
    path.write_text(path.read_text(encoding="utf-8").replace("pv-2,", "pv\x002,", 1))
    with pytest.raises(DerImportError, match=r"row 2|line \d"):
        ders_from_csv(path)


def test_import_caps_power_and_years(tmp_path: Path) -> None:
    with pytest.raises(DerImportError) as info:
        ders_from_json(json.dumps([{**PV, "p_nameplate_mw": 1e308}]))
    assert f"field 'p_nameplate_mw' = 1e+308: Input should be less than or equal to {CAP}" in (
        str(info.value)
    )
    with pytest.raises(DerImportError) as info:
        ders_from_json(json.dumps([{**EV, "arrival": "0001-01-01T00:00:00+14:00"}]))
    assert "field 'arrival' = 0001-01-01T00:00:00+14:00 is outside the years 1900..2200" in (
        str(info.value)
    )


def test_json_import_refuses_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(DEEP_ARRAYS)
    with pytest.raises(DerImportError, match=f"deeper than the limit of {MAX_JSON_DEPTH}"):
        ders_from_json(path)
    with pytest.raises(DerImportError, match="<JSON text>: JSON nested deeper"):
        ders_from_json(DEEP_OBJECTS.decode())


def test_json_depth_scan_ignores_strings_and_escapes() -> None:
    limit = 3
    check_json_depth(b'[[["[[[[[[", "\\"[[[[", "\\\\"]]]', limit)
    check_json_depth('{"a": {"b": ["\u202e[[[["]}}', limit)
    check_json_depth(b'["unterminated [[[[[[', limit)  # malformed: left to the parser
    with pytest.raises(JsonTooDeepError, match="limit of 3 levels"):
        check_json_depth(b'[{"a": [["x"]]}]', limit)
    with pytest.raises(JsonTooDeepError):
        check_json_depth(b'["\\\\", [[["a"]]]]', limit)  # an escaped backslash ends no string
