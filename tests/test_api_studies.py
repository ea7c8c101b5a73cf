"""Hosting-capacity studies, feeder uploads and DER groups over real HTTP (uvicorn on a free
loopback port), on SQLite and on a real PostgreSQL server: background jobs with their stored
tables, the same results on both databases, roles (401/403), audit rows, and bad input (a
malformed or invalid feeder file, unknown buses, inconsistent groups) named in the answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandapower as pp
import pytest
from service_fixtures import BACKENDS, ApiServer, servers_per_backend

from network_models.loaders import load_feeder

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ApiServer]]:
    """The API served on each backend (one migrated database each)."""
    with servers_per_backend(tmp_path_factory, "studies-") as running:
        yield running


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, servers: dict[str, ApiServer]) -> ApiServer:
    """The API on one backend."""
    return servers[request.param]


@pytest.fixture(scope="module")
def baran_wu_json() -> str:
    """Baran-Wu 33-bus as pandapower JSON (``pandapower.to_json``)."""
    return str(pp.to_json(load_feeder("baran-wu-33").net))


def _audit(server: ApiServer, **filters: str) -> list[dict[str, Any]]:
    with server.client("viewer") as viewer:
        response = viewer.get("/audit", params={**filters, "limit": 100})
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows


def _study(server: ApiServer, feeder: str) -> dict[str, Any]:
    """Request a study of three buses of Baran-Wu and poll it to the end."""
    with server.client("adms") as adms:
        requested = adms.post(
            f"/feeders/{feeder}/hosting-capacity",
            json={"mode": "both", "pf": 1.0, "buses": [0, 5, 17]},
        )
        assert requested.status_code == 202, requested.text
        run = requested.json()
        assert requested.headers["location"] == f"/api/v1/hosting-capacity/{run['run_id']}"
        assert run["status"] in ("queued", "running") and run["feeder"] == feeder
        deadline = time.monotonic() + 60
        while True:
            polled = adms.get(f"/hosting-capacity/{run['run_id']}")
            assert polled.status_code == 200, polled.text
            body: dict[str, Any] = polled.json()
            if body["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert body["status"] == "done", body
    assert body["progress"] == 1.0
    return body


def test_hosting_capacity_job_same_table_on_sqlite_and_postgresql(
    servers: dict[str, ApiServer], baran_wu_json: str
) -> None:
    tables = {}
    for backend, server in servers.items():
        with server.client("admin") as admin:
            loaded = admin.post("/feeders", json={"builtin": "baran-wu-33", "name": "bw-hc"})
            assert loaded.status_code == 201, loaded.text
        body = _study(server, "bw-hc")
        rows = {row["bus"]: row for row in body["buses"]}
        assert sorted(rows) == [0, 5, 17]
        # the end of the main feeder: 1.98 MW of generation (overvoltage there), 0.156 MW of
        # load (undervoltage there); the source bus hosts nothing
        end = rows[17]
        assert end["hc_gen_mw"] == pytest.approx(1.976, abs=0.03)
        assert end["binding_gen"].startswith("overvoltage at bus")
        assert end["hc_load_mw"] == pytest.approx(0.156, abs=0.01)
        assert end["binding_load"] == "undervoltage at bus 17"
        assert rows[0]["hc_gen_mw"] is None and rows[0]["binding_load"] == "source bus"
        assert rows[5]["hc_gen_mw"] > end["hc_gen_mw"] and rows[5]["feeder"] == "feeder-0"
        assert body["summary"]["buses"] == 3 and body["summary"]["modes"] == ["gen", "load"]
        with server.client("viewer") as viewer:
            listed = viewer.get("/feeders/bw-hc/hosting-capacity").json()
            assert [r["run_id"] for r in listed] == [body["run_id"]]
        audit = _audit(server, action="hosting_capacity.request")
        assert audit[0]["actor"] == "test-adms"
        assert audit[0]["target_id"] == body["run_id"]
        assert audit[0]["after"]["request"]["buses"] == [0, 5, 17]
        tables[backend] = [
            (r["bus"], r["hc_gen_mw"], r["binding_gen"], r["hc_load_mw"], r["binding_load"])
            for r in body["buses"]
        ]
    assert tables["sqlite"] == tables["postgresql"]


def test_hosting_capacity_bad_requests_and_roles(server: ApiServer) -> None:
    with server.client("admin") as admin:
        assert admin.post(
            "/feeders", json={"builtin": "baran-wu-33", "name": "bw-bad"}
        ).status_code in (
            201,
            409,
        )
    path = "/feeders/bw-bad/hosting-capacity"
    with server.client(None) as anonymous:
        assert anonymous.post(path, json={}).status_code == 401
    with server.client("viewer") as viewer:
        assert viewer.post(path, json={}).status_code == 403
        assert viewer.get("/hosting-capacity/no-such-run").json() == {
            "detail": "hosting-capacity run 'no-such-run' not found"
        }
    with server.client("adms") as adms:
        unknown_bus = adms.post(path, json={"buses": [5, 999]})
        assert unknown_bus.status_code == 400
        assert unknown_bus.json()["detail"] == "bus 999 is not a bus of feeder 'bw-bad'"
        assert adms.post("/feeders/nowhere/hosting-capacity", json={}).json() == {
            "detail": "feeder 'nowhere' not found"
        }
        for body in ({"pf": 0.0}, {"mode": "storage"}, {"pf": True}, {"buses": []}):
            assert adms.post(path, json=body).status_code == 422, body
        stale = adms.post(path, json={"expected_feeder_version": 7})
        assert stale.status_code == 409 and "not the expected 7" in stale.json()["detail"]
    denied = _audit(server, target_id=f"/api/v1{path}")
    assert denied[0]["actor"] == "test-viewer" and denied[0]["outcome"] == "denied"


def test_feeder_upload_pandapower_and_matpower_and_malformed_files(
    server: ApiServer, baran_wu_json: str
) -> None:
    upload = "/feeders/upload"
    with server.client("adms") as adms:
        refused = adms.post(upload, params={"name": "x", "format": "pandapower-json"}, content="{}")
        assert refused.status_code == 403
    with server.client("admin") as admin:
        created = admin.post(
            upload,
            params={"name": "bw-upload", "format": "pandapower-json"},
            content=baran_wu_json,
            headers={"Content-Type": "application/json"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["source"].startswith("upload:")
        detail = admin.get("/feeders/bw-upload").json()
        assert detail["buses"] == 33 and detail["lines"] == 37
        flow = admin.post("/feeders/bw-upload/powerflow")
        assert flow.status_code == 200, flow.text
        again = admin.post(
            upload, params={"name": "bw-upload", "format": "pandapower-json"}, content="{}"
        )
        assert again.status_code == 409
        # the uploaded feeder is studied like a built-in
        study = _study(server, "bw-upload")
        end = next(row for row in study["buses"] if row["bus"] == 17)
        assert end["hc_gen_mw"] == pytest.approx(1.976, abs=0.03)

        malformed = admin.post(
            upload, params={"name": "broken", "format": "pandapower-json"}, content='{"bus": ['
        )
        assert malformed.status_code == 422
        message = malformed.json()["detail"][0]["msg"]
        assert "broken.json" in message and "not valid JSON" in message
        not_a_net = admin.post(
            upload, params={"name": "broken", "format": "pandapower-json"}, content='{"a": 1}'
        )
        assert not_a_net.status_code == 422
        assert "not a pandapower network" in not_a_net.json()["detail"][0]["msg"]
        # a model that parses but fails validation: a line to a bus that does not exist
        net = load_feeder("baran-wu-33").net
        net.line.loc[0, "to_bus"] = 999
        invalid = admin.post(
            upload,
            params={"name": "broken", "format": "pandapower-json"},
            content=str(pp.to_json(net)),
        )
        assert invalid.status_code == 422, invalid.text
        assert "failed validation" in invalid.json()["detail"][0]["msg"]
        assert "line 0" in invalid.json()["detail"][0]["msg"]
        bad_case = admin.post(
            upload, params={"name": "broken", "format": "matpower"}, content="function mpc = x\n"
        )
        assert bad_case.status_code == 422
        assert "broken.m" in bad_case.json()["detail"][0]["msg"]
        assert admin.get("/feeders/broken").status_code == 404
        # a real MATPOWER case file
        matpower = admin.post(
            upload,
            params={"name": "case4", "format": "matpower"},
            content=(DATA / "case4_radial.m").read_text(),
            headers={"Content-Type": "text/plain"},
        )
        assert matpower.status_code == 201, matpower.text
        assert admin.get("/feeders/case4").json()["buses"] == 4
    audit = _audit(server, action="feeder.upload")
    names = [row["target_id"] for row in audit]
    assert "bw-upload" in names and "case4" in names and "broken" not in names
    uploaded = next(row for row in audit if row["target_id"] == "bw-upload")
    assert uploaded["actor"] == "test-admin" and uploaded["after"]["buses"] == 33


def test_der_groups_crud_roles_and_audit(server: ApiServer) -> None:
    feeder = "groups"
    base = f"/feeders/{feeder}/der-groups"
    with server.client("admin") as admin:
        assert admin.post(
            "/feeders", json={"builtin": "cigre-mv-der", "name": feeder}
        ).status_code in (201, 409)
    with server.client("viewer") as viewer:
        assert viewer.post(base, json={"name": "g", "by": "type", "value": "pv"}).status_code == 403
    with server.client(None) as anonymous:
        assert anonymous.get(base).status_code == 401
    with server.client("adms") as adms:
        ders = adms.get(f"/feeders/{feeder}/ders").json()
        pv = [d["der_id"] for d in ders if d["der_type"] == "pv"]
        assert pv
        by_type = adms.post(base, json={"name": "all-pv", "by": "type", "value": "pv"})
        assert by_type.status_code == 201, by_type.text
        assert by_type.json()["members"] == pv
        custom = adms.post(base, json={"name": "pair", "by": "custom", "members": pv[:2]})
        assert custom.status_code == 201 and custom.json()["members"] == pv[:2]
        assert (
            adms.post(base, json={"name": "pair", "by": "type", "value": "pv"}).status_code == 409
        )
        unknown = adms.post(base, json={"name": "x", "by": "custom", "members": ["nope"]})
        assert unknown.status_code == 400 and "nope" in unknown.json()["detail"]
        bad_type = adms.post(base, json={"name": "x", "by": "type", "value": "reactor"})
        assert bad_type.status_code == 400 and "reactor" in bad_type.json()["detail"]
        assert adms.post(base, json={"name": "x", "by": "custom"}).status_code == 400
        assert adms.post(base, json={"name": "x", "by": "area", "value": "a"}).status_code == 422
        assert [g["name"] for g in adms.get(base).json()] == ["all-pv", "pair"]
        changed = adms.put(f"{base}/pair", json={"by": "custom", "members": pv[:1]})
        assert changed.status_code == 200 and changed.json()["members"] == pv[:1]
        assert adms.get(f"{base}/pair").json()["members"] == pv[:1]
        assert adms.get(f"{base}/none").json() == {"detail": "DER group 'none' not found"}
        assert adms.delete(f"{base}/pair").status_code == 204
        assert adms.get(f"{base}/pair").status_code == 404
        assert adms.delete(f"{base}/pair").status_code == 404
    trail = [
        (a["action"], a["target_id"]) for a in reversed(_audit(server, target_type="der_group"))
    ]
    assert trail[-4:] == [
        ("der_group.create", f"{feeder}/all-pv"),
        ("der_group.create", f"{feeder}/pair"),
        ("der_group.update", f"{feeder}/pair"),
        ("der_group.delete", f"{feeder}/pair"),
    ]
    update = next(a for a in _audit(server, action="der_group.update"))
    assert update["before"]["members"] == pv[:2] and update["after"]["members"] == pv[:1]
    with server.client("adms") as adms:
        # a rule on the topology: every DER below the feeder head at bus 1
        head = adms.post(base, json={"name": "head-1", "by": "feeder", "value": "feeder-1"})
        assert head.status_code == 201, head.text
        assert head.json()["members"] == [d["der_id"] for d in ders]
        nowhere = adms.post(base, json={"name": "h", "by": "feeder", "value": "feeder-99"})
        assert nowhere.status_code == 400 and "feeder-99" in nowhere.json()["detail"]
