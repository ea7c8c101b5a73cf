"""Feeder location and time zone over real HTTP (uvicorn on a free loopback port), on SQLite
and on a real PostgreSQL server: the effective location in every feeder representation
(``source`` user, model, builtin or default), ``PUT``/``DELETE /feeders/{f}/location``
(validated, audited, admin only), the location given at upload, and the user's location kept
in the database: seen by a second service instance at once and after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandapower as pp
import pytest
from service_fixtures import BACKENDS, ApiServer, api_server, fresh_database
from sqlalchemy import update

from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.migrate import upgrade
from gridderms.persistence.models import ApiKeyRow
from gridderms.service.feeder_models import FeederModels
from gridderms.service.feeders import load_builtin, set_location
from gridderms.service.principals import SYSTEM
from network_models.loaders import load_feeder

UPLOAD = "/feeders/upload"
#: the body of the issue: the Upper Rhine plain near Offenburg
OFFENBURG = {"latitude_deg": 48.4, "longitude_deg": 7.9, "altitude_m": 150.0, "tz": "Europe/Berlin"}
#: cigre-mv-der's built-in region (Germany)
CIGRE_REGION = {
    "latitude_deg": 51.2,
    "longitude_deg": 10.4,
    "altitude_m": 300.0,
    "tz": "Europe/Berlin",
    "source": "builtin",
}
#: what a feeder whose model says nothing gets
DEFAULT = {**CIGRE_REGION, "source": "default"}
SAN_DIEGO = {
    "latitude_deg": 32.7,
    "longitude_deg": -117.2,
    "altitude_m": 20.0,
    "tz": "America/Los_Angeles",
}


@pytest.fixture(scope="module")
def baran_wu_json() -> str:
    """Baran & Wu as pandapower JSON: a model that declares no location."""
    return str(pp.to_json(load_feeder("baran-wu-33").net))


def _load(server: ApiServer, name: str) -> None:
    assert server.load_feeder(name)["location"] == CIGRE_REGION


def _message(response: Any, loc: list[str]) -> str:
    """The message of a 422 answer with one error at ``loc``."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == loc, error
    return str(error["msg"])


def _locations(server: ApiServer, name: str) -> list[dict[str, Any]]:
    """The feeder's location as GET /feeders, /feeders/{f} and /feeders/{f}/location say."""
    with server.client("viewer") as viewer:
        listed = next(f for f in viewer.get("/feeders").json() if f["name"] == name)
        detail = viewer.get(f"/feeders/{name}").json()
        alone = viewer.get(f"/feeders/{name}/location")
        assert alone.status_code == 200, alone.text
        return [listed["location"], detail["location"], alone.json()]


def test_set_read_back_and_reset_to_the_builtin_region_audited(server: ApiServer) -> None:
    name = "located"
    _load(server, name)
    assert _locations(server, name) == [CIGRE_REGION] * 3
    with server.client("admin") as admin:
        put = admin.put(f"/feeders/{name}/location", json=OFFENBURG)
        assert put.status_code == 200, put.text
        assert put.json() == {**OFFENBURG, "source": "user"}
        assert _locations(server, name) == [{**OFFENBURG, "source": "user"}] * 3
        # the power flow runs on a snapshot of the model: it carries the location over
        flow = admin.post(f"/feeders/{name}/powerflow")
        assert flow.status_code == 200 and flow.json()["converged"] is True
        # altitude is optional (0 m); a second PUT replaces the first
        moved = admin.put(
            f"/feeders/{name}/location",
            json={"latitude_deg": -33.9, "longitude_deg": 18.4, "tz": "Africa/Johannesburg"},
        )
        assert moved.json() == {
            "latitude_deg": -33.9,
            "longitude_deg": 18.4,
            "altitude_m": 0.0,
            "tz": "Africa/Johannesburg",
            "source": "user",
        }
        reset = admin.delete(f"/feeders/{name}/location")
        assert reset.status_code == 200, reset.text
        assert reset.json() == CIGRE_REGION
        assert _locations(server, name) == [CIGRE_REGION] * 3
        audit = admin.get("/audit", params={"target_id": name, "limit": 10}).json()
    trail = [
        (row["actor"], row["action"], row["before"]["source"], row["after"]["source"])
        for row in reversed(audit)
        if row["action"].startswith("feeder.location")
    ]
    assert trail == [
        ("test-admin", "feeder.location", "builtin", "user"),
        ("test-admin", "feeder.location", "user", "user"),
        ("test-admin", "feeder.location_reset", "user", "builtin"),
    ]
    first = next(row for row in reversed(audit) if row["action"] == "feeder.location")
    assert first["after"] == {**OFFENBURG, "source": "user"}
    assert first["before"] == CIGRE_REGION and first["outcome"] == "ok"


def test_invalid_locations_are_422_unknown_feeders_404_other_roles_403(
    server: ApiServer,
) -> None:
    name = "checked"
    _load(server, name)
    path = f"/feeders/{name}/location"
    with server.client("admin") as admin:
        unknown_zone = admin.put(path, json={**OFFENBURG, "tz": "Mars/Olympus_Mons"})
        message = _message(unknown_zone, ["body", "tz"])
        assert "unknown time zone 'Mars/Olympus_Mons'" in message, message
        # a directory of the time zone database is not a zone either
        region = admin.put(path, json={**OFFENBURG, "tz": "Europe"})
        assert "unknown time zone 'Europe'" in _message(region, ["body", "tz"])
        assert "Europe/Berlin" in message  # says what a zone looks like
        north = admin.put(path, json={**OFFENBURG, "latitude_deg": 91})
        assert "less than or equal to 90" in _message(north, ["body", "latitude_deg"])
        for body, field in (
            ({**OFFENBURG, "longitude_deg": -180.5}, "longitude_deg"),
            ({**OFFENBURG, "altitude_m": 9001}, "altitude_m"),
            ({**OFFENBURG, "latitude_deg": "48.4"}, "latitude_deg"),
            ({**OFFENBURG, "latitude_deg": True}, "latitude_deg"),
            ({k: v for k, v in OFFENBURG.items() if k != "tz"}, "tz"),
            ({**OFFENBURG, "place": "Offenburg"}, "place"),
        ):
            response = admin.put(path, json=body)
            assert response.status_code == 422, (body, response.text)
            assert field in {str(part) for e in response.json()["detail"] for part in e["loc"]}
        nan = admin.put(
            path,
            content=b'{"latitude_deg": NaN, "longitude_deg": 7.9, "tz": "UTC"}',
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 422
        for method in ("GET", "PUT", "DELETE"):
            missing = admin.request(method, "/feeders/nowhere/location", json=OFFENBURG)
            assert missing.status_code == 404, (method, missing.text)
            assert missing.json() == {"detail": "feeder 'nowhere' not found"}
    for role in ("viewer", "operator", "adms"):
        with server.client(role) as client:
            for method, body in (("PUT", OFFENBURG), ("DELETE", None)):
                refused = client.request(method, path, json=body)
                assert refused.status_code == 403, (role, method, refused.text)
                assert f"role '{role}' may not {method}" in refused.json()["detail"]
    assert _locations(server, name) == [CIGRE_REGION] * 3  # nothing stored
    with server.client("admin") as admin:
        audit = admin.get("/audit", params={"target_id": f"/api/v1{path}"}).json()
    assert {(row["actor"], row["outcome"]) for row in audit} == {
        ("test-viewer", "denied"),
        ("test-operator", "denied"),
        ("test-adms", "denied"),
    }


def test_upload_with_location_query_parameters(server: ApiServer, baran_wu_json: str) -> None:
    with server.client("admin") as admin:
        located = admin.post(
            UPLOAD,
            params={"name": "bw-sd", "format": "pandapower-json", **SAN_DIEGO},
            content=baran_wu_json,
        )
        assert located.status_code == 201, located.text
        assert located.json()["location"] == {**SAN_DIEGO, "source": "user"}
        detail = admin.get("/feeders/bw-sd").json()
        assert detail["location"] == {**SAN_DIEGO, "source": "user"}
        assert not any("declares no location" in note for note in detail["notes"])
        # altitude is optional at upload too
        no_altitude = {k: v for k, v in SAN_DIEGO.items() if k != "altitude_m"}
        low = admin.post(
            UPLOAD,
            params={"name": "bw-sd-0m", "format": "pandapower-json", **no_altitude},
            files={"file": ("case.json", baran_wu_json)},
        )
        assert low.status_code == 201, low.text
        assert low.json()["location"] == {**SAN_DIEGO, "altitude_m": 0.0, "source": "user"}
        # no location: the model says nothing, the default is used and a note says so
        plain = admin.post(
            UPLOAD, params={"name": "bw-plain", "format": "pandapower-json"}, content=baran_wu_json
        )
        assert plain.status_code == 201, plain.text
        assert plain.json()["location"] == DEFAULT
        notes = admin.get("/feeders/bw-plain").json()["notes"]
        assert any(n.startswith("feeder 'bw-plain' declares no location") for n in notes), notes
        # a model that declares its location
        net = load_feeder("baran-wu-33").net
        net["location"] = SAN_DIEGO
        declared = admin.post(
            UPLOAD,
            params={"name": "bw-declared", "format": "pandapower-json"},
            content=pp.to_json(net),
        )
        assert declared.status_code == 201, declared.text
        assert declared.json()["location"] == {**SAN_DIEGO, "source": "model"}
        # a user location set at upload and reset falls back to the model's default
        assert admin.delete("/feeders/bw-sd/location").json() == DEFAULT
        base = {"name": "bw-bad", "format": "pandapower-json"}
        cases: list[tuple[dict[str, Any], list[str], str]] = [
            ({"latitude_deg": 32.7}, ["query"], "missing: longitude_deg, tz"),
            ({"latitude_deg": 32.7, "tz": "UTC"}, ["query", "longitude_deg"], "longitude_deg"),
            ({"longitude_deg": 7.9, "tz": "UTC"}, ["query", "latitude_deg"], "latitude_deg"),
            ({"tz": "Europe/Berlin"}, ["query"], "missing: latitude_deg, longitude_deg"),
            ({"altitude_m": 10}, ["query"], "missing: latitude_deg, longitude_deg, tz"),
            ({**SAN_DIEGO, "tz": "Pacific/Atlantis"}, ["query", "tz"], "'Pacific/Atlantis'"),
            ({**SAN_DIEGO, "latitude_deg": 91}, ["query", "latitude_deg"], "less than or equal"),
            ({**SAN_DIEGO, "longitude_deg": "west"}, ["query", "longitude_deg"], "number"),
        ]
        for params, loc, expected in cases:
            response = admin.post(UPLOAD, params={**base, **params}, content=baran_wu_json)
            message = _message(response, loc)
            assert expected in message, (params, message)
        assert admin.get("/feeders/bw-bad").status_code == 404
        audit = admin.get("/audit", params={"action": "feeder.upload", "limit": 100}).json()
    after = {row["target_id"]: row["after"] for row in audit}
    assert after["bw-sd"]["location"] == {**SAN_DIEGO, "source": "user"}
    assert "location" not in after["bw-plain"] and "bw-bad" not in after


def test_dispatch_forecast_follows_the_location_and_snapshot_uses_the_model(
    server: ApiServer,
) -> None:
    """Over HTTP: a dispatch run's summary names its forecast (pvlib clear sky at the
    feeder's location, its available power per period); the same clock hour in San Diego is
    night where it is afternoon in Offenburg; ``"snapshot": true`` uses the model's values."""
    name = "forecasted"
    _load(server, name)
    request = {"start": "2026-06-22T13:00:00Z", "horizon_h": 1.0, "step_minutes": 15}
    with server.client("admin") as admin, server.client("adms") as adms:
        assert admin.put(f"/feeders/{name}/location", json=OFFENBURG).status_code == 200
        day = adms.post(f"/feeders/{name}/dispatch-runs", json=request)
        assert day.status_code == 201, day.text
        forecast = day.json()["summary"]["forecast"]
        assert forecast["mode"] == "standard"
        assert forecast["der_sources"]["pvlib clear-sky at 48.4 N 7.9 E"] == 8
        assert len(forecast["available_der_mw"]) == 4 and min(forecast["available_der_mw"]) > 2.2
        assert admin.put(f"/feeders/{name}/location", json=SAN_DIEGO).status_code == 200
        night = adms.post(f"/feeders/{name}/dispatch-runs", json=request).json()["summary"]
        sources = night["forecast"]["der_sources"]
        assert sources["pvlib clear-sky at 32.7 N 117.2 W"] == 8
        # 06:00 in San Diego: the 0.15 MW of PV gives (almost) nothing; the other DERs remain
        at_dawn = night["forecast"]["available_der_mw"]
        assert max(at_dawn) - min(at_dawn) < 0.01
        assert min(forecast["available_der_mw"]) - max(at_dawn) > 0.1
        snapshot = adms.post(
            f"/feeders/{name}/dispatch-runs", json={**request, "snapshot": True}
        ).json()["summary"]
        assert snapshot["forecast"]["mode"] == "snapshot"
        assert snapshot["forecast"]["load_source"].startswith("snapshot")


def test_snapshot_carries_the_location_and_everything_else(tmp_path: Path, cache_dir: Path) -> None:
    url = fresh_database("sqlite", tmp_path)
    upgrade(url)
    engine = make_engine(url)
    models = FeederModels(cache_dir)
    try:
        with session_factory(engine)() as session:
            row = load_builtin(session, models, SYSTEM, "cigre-mv-der", "snap")
            before = models.snapshot(row)
            assert before.location.source == "builtin"
            set_location(session, models, "snap", OFFENBURG, SYSTEM)
            with models.lock("snap"):
                model = models.model(row)
            snapshot = models.snapshot(row)
    finally:
        engine.dispose()
    assert snapshot.location == model.location
    assert snapshot.location.to_dict() == {**OFFENBURG, "source": "user"}
    assert snapshot.net is not model.net and len(snapshot.net.bus) == len(model.net.bus)
    assert (snapshot.name, snapshot.source, snapshot.version) == ("snap", model.source, 0)
    assert snapshot.profiles is model.profiles and snapshot.notes == model.notes
    assert snapshot.model_cache == {} and snapshot.model_cache is not model.model_cache


def _rename_keys(url: str, suffix: str) -> None:
    """Free the key names for the next service (it creates keys under the same names)."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            session.execute(update(ApiKeyRow).values(name=ApiKeyRow.name + suffix))
            session.commit()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_location_is_shared_by_instances_and_survives_a_restart(
    backend: str, tmp_path: Path, baran_wu_json: str
) -> None:
    url = fresh_database(backend, tmp_path)
    upgrade(url)
    with api_server(url, tmp_path / "first.log") as first:
        _load(first, "kept")
        with first.client("admin") as admin:
            assert admin.put("/feeders/kept/location", json=OFFENBURG).status_code == 200
            plain = admin.post(
                UPLOAD,
                params={"name": "bw-plain", "format": "pandapower-json"},
                content=baran_wu_json,
            )
            assert plain.status_code == 201, plain.text
        _rename_keys(url, "-first")
        # a second instance on the same database: what one sets the other uses at once
        with api_server(url, tmp_path / "second.log") as second:
            assert _locations(second, "kept") == [{**OFFENBURG, "source": "user"}] * 3
            with second.client("admin") as admin:
                assert admin.put("/feeders/bw-plain/location", json=SAN_DIEGO).status_code == 200
            assert _locations(first, "bw-plain") == [{**SAN_DIEGO, "source": "user"}] * 3
            with second.client("admin") as admin:
                assert admin.delete("/feeders/bw-plain/location").json() == DEFAULT
            assert _locations(first, "bw-plain") == [DEFAULT] * 3
    _rename_keys(url, "-second")
    # a restart with an empty feeder cache: everything comes from the database
    cache = tmp_path / "empty-cache"
    with api_server(url, tmp_path / "third.log", GRIDDERMS_CACHE_DIR=str(cache)) as third:
        assert _locations(third, "kept") == [{**OFFENBURG, "source": "user"}] * 3
        assert _locations(third, "bw-plain") == [DEFAULT] * 3
        with third.client("viewer") as viewer:
            notes = viewer.get("/feeders/bw-plain").json()["notes"]
        # the note names the feeder, not the stored file the model was rebuilt from
        located = [n for n in notes if "declares no location" in n]
        assert len(located) == 1 and located[0].startswith("feeder 'bw-plain' "), notes
    for log in ("first.log", "second.log", "third.log"):
        text = (tmp_path / log).read_text()
        assert "Traceback" not in text, f"{log}:\n{text[-4000:]}"


def test_no_traceback_in_the_server_logs(servers: dict[str, ApiServer]) -> None:
    for backend, server in servers.items():
        log = server.log.read_text()
        assert "Traceback" not in log, f"{backend}:\n{log[-4000:]}"
