"""Hosting-capacity studies, feeder uploads and DER groups over real HTTP (uvicorn on a free
loopback port), on SQLite and on a real PostgreSQL server: background jobs with their stored
tables, the same results on both databases, time-series and managed capacity equal to the
command line's, cancellation of queued and running studies, roles (401/403), audit rows, and
bad input (a malformed or invalid feeder file, unknown buses, a window outside the profiles,
inconsistent groups) named in the answer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandapower as pp
import pytest
from service_fixtures import ApiServer, assert_cancel_refusals, wait_for_status

from gridderms.cli import main
from network_models.loaders import load_feeder

DATA = Path(__file__).parent / "data"
#: API and command line run the same code on the same model: they agree to 1 W
AGREE_MW = 1e-6
#: 2016-06-21 (day 173 of a leap year) of the SimBench 15-minute profiles
JUNE_21 = {"start_step": 96 * 172, "n_steps": 96}


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


def _wait(client: Any, run_id: str, statuses: tuple[str, ...], within_s: float) -> dict[str, Any]:
    """Poll study ``run_id`` until its status is one of ``statuses`` (fail after ``within_s``)."""
    return wait_for_status(client, f"/hosting-capacity/{run_id}", statuses, within_s)


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
        assert body["request"]["min_load_share"] == body["summary"]["min_load_share"] == 0.25
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
        for body in (
            {"managed": {}},  # managed needs a time-series window
            {"mode": "load", "timeseries": JUNE_21, "managed": {}},  # and generation
            {"timeseries": {"start_step": 0, "n_steps": 0}},
            {"timeseries": {"start_step": -1, "n_steps": 4}},
            {"timeseries": {"start_step": 0}},
            {"timeseries": {"start_step": 0, "n_steps": 4, "step_minutes": 15}},
            {"timeseries": JUNE_21, "managed": {"curtailment_share": 1.0}},
            {"timeseries": JUNE_21, "managed": {"curtailment_share": "0.1"}},
        ):
            assert adms.post(path, json=body).status_code == 422, body
        no_profiles = adms.post(path, json={"timeseries": JUNE_21})
        assert no_profiles.status_code == 422
        assert "feeder 'bw-bad' has no profiles" in no_profiles.json()["detail"][0]["msg"]
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


def test_hosting_capacity_timeseries_and_managed_over_http_equal_the_cli(
    servers: dict[str, ApiServer], capsys: pytest.CaptureFixture[str]
) -> None:
    feeder = "1-LV-rural1--0-sw"
    assert main(["hosting-capacity", feeder, "--timeseries", "2016-06-21", "--json",
                 "--no-progress", "--curtailment-share", "0.1"]) == 0  # fmt: skip
    cli = json.loads(capsys.readouterr().out)
    assert cli["timeseries"]["gen"]["first_step"] == JUNE_21["start_step"]
    for server in servers.values():
        with server.client("admin") as admin:
            loaded = admin.post("/feeders", json={"builtin": feeder, "name": "rural-ts"})
            assert loaded.status_code == 201, loaded.text
        with server.client("adms") as adms:
            base = "/feeders/rural-ts/hosting-capacity"
            outside = adms.post(base, json={"timeseries": {"start_step": 35100, "n_steps": 96}})
            assert outside.status_code == 422
            assert outside.json()["detail"][0]["msg"] == (
                "profile steps 35100..35195 are outside the profiles of feeder 'rural-ts' "
                "(steps 0..35135)"
            )
            night = adms.post(
                base, json={"timeseries": {"start_step": 96 * 172, "n_steps": 8}, "managed": {}}
            )
            assert night.status_code == 422
            assert "PV profile is zero" in night.json()["detail"][0]["msg"]
            request = {"timeseries": JUNE_21, "managed": {"curtailment_share": 0.1}}
            accepted = adms.post(base, json=request)
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["request"]["timeseries"] == JUNE_21
            body = _wait(adms, accepted.json()["run_id"], ("done", "failed"), 60)
        assert body["status"] == "done", body
        # the static table: one row per bus, as the command line's
        api_rows = {row["bus"]: row for row in body["buses"]}
        assert sorted(api_rows) == [row["bus"] for row in cli["buses"]]
        for row in cli["buses"]:
            for mode in ("gen", "load"):
                got, want = api_rows[row["bus"]][f"hc_{mode}_mw"], row[f"hc_{mode}_mw"]
                assert (got is None and want is None) or got == pytest.approx(want, abs=AGREE_MW)
                assert api_rows[row["bus"]][f"binding_{mode}"] == row[f"binding_{mode}"]
        # the time series and the managed capacity: in the summary
        summary = body["summary"]
        for mode in ("gen", "load"):
            api_series, cli_series = summary["timeseries"][mode], cli["timeseries"][mode]
            assert api_series["n_steps"] == cli_series["n_steps"] == 96
            assert len(api_series["minimum"]) == len(cli_series["minimum"]) > 10
            for got, want in zip(api_series["minimum"], cli_series["minimum"], strict=True):
                assert (got["bus"], got["step"], got["binding"]) == (
                    want["bus"],
                    want["step"],
                    want["binding"],
                )
                assert got["hc_min_mw"] == pytest.approx(want["hc_min_mw"], abs=AGREE_MW)
        assert summary["managed"]["curtailment_share"] == 0.1
        managed = summary["managed"]["buses"]
        assert len(managed) == len(cli["managed"]["buses"])
        for got, want in zip(managed, cli["managed"]["buses"], strict=True):
            assert got["bus"] == want["bus"]
            for key in ("static_hc_mw", "managed_hc_mw"):
                assert got[key] == pytest.approx(want[key], abs=AGREE_MW)
            assert got["managed_hc_mw"] >= got["static_hc_mw"]
            assert got["curtailed_share"] <= 0.1 + 1e-9


def test_hosting_capacity_min_load_share_over_http_equals_the_cli(
    servers: dict[str, ApiServer], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["hosting-capacity", "baran-wu-33", "--buses", "0", "5", "17", "--json"]
    assert main([*argv, "--no-progress", "--min-load-share", "0.6"]) == 0
    cli = json.loads(capsys.readouterr().out)
    line = "loads at 60 % of their set-points (generation HC), 100 % (load HC)"
    assert cli["min_load_share"] == 0.6 and cli["operating_point"] == line
    for server in servers.values():
        with server.client("admin") as admin:
            loaded = admin.post("/feeders", json={"builtin": "baran-wu-33", "name": "bw-share"})
            assert loaded.status_code == 201, loaded.text
        path = "/feeders/bw-share/hosting-capacity"
        with server.client("adms") as adms:
            for bad in ("1.5", "-0.1", "NaN", "Infinity", '"0.5"', "true", "null"):
                refused = adms.post(
                    path,
                    content=f'{{"buses": [17], "min_load_share": {bad}}}',
                    headers={"Content-Type": "application/json"},
                )
                assert refused.status_code == 422, (bad, refused.text)
                [error] = refused.json()["detail"]
                assert error["loc"] == ["body", "min_load_share"], (bad, error)
            accepted = adms.post(path, json={"buses": [0, 5, 17], "min_load_share": 0.6})
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["request"]["min_load_share"] == 0.6
            body = _wait(adms, accepted.json()["run_id"], ("done", "failed"), 60)
        assert body["status"] == "done", body
        assert body["summary"]["min_load_share"] == 0.6
        assert body["summary"]["operating_point"] == line
        assert body["summary"]["operating_points"] == cli["operating_points"]
        api_rows = {row["bus"]: row for row in body["buses"]}
        assert sorted(api_rows) == [row["bus"] for row in cli["buses"]] == [0, 5, 17]
        for row in cli["buses"]:
            for mode in ("gen", "load"):
                got, want = api_rows[row["bus"]][f"hc_{mode}_mw"], row[f"hc_{mode}_mw"]
                assert (got is None and want is None) or got == pytest.approx(want, abs=AGREE_MW)
                assert api_rows[row["bus"]][f"binding_{mode}"] == row[f"binding_{mode}"]
        # more load at the operating point hosts more generation than the default 25 %
        assert api_rows[17]["hc_gen_mw"] > 1.976 + 0.03


@pytest.mark.serial
def test_cancel_hosting_capacity_queued_and_running(server: ApiServer) -> None:
    with server.client("admin") as admin:
        # 2,940 buses: a static study of every bus takes tens of seconds
        loaded = admin.post("/feeders", json={"builtin": "lv-schutterwald", "name": "lv-cancel"})
        assert loaded.status_code == 201, loaded.text
        small_feeder = admin.post("/feeders", json={"builtin": "baran-wu-33", "name": "bw-cancel"})
        assert small_feeder.status_code == 201, small_feeder.text
    with server.client("adms") as adms:
        long = adms.post("/feeders/lv-cancel/hosting-capacity", json={"mode": "gen"}).json()
        # one study at a time: the second waits in the queue
        waiting = adms.post("/feeders/lv-cancel/hosting-capacity", json={"mode": "gen"}).json()
        assert waiting["status"] == "queued"
        queued = adms.post(f"/hosting-capacity/{waiting['run_id']}/cancel")
        assert queued.status_code == 200, queued.text
        assert queued.json()["status"] == "cancelled"
        # running and past its set-up: progress reports arrive
        deadline = time.monotonic() + 30
        while (run := adms.get(f"/hosting-capacity/{long['run_id']}").json())["progress"] < 0.06:
            assert run["status"] in ("queued", "running") and time.monotonic() < deadline, run
            time.sleep(0.05)
        running = adms.post(f"/hosting-capacity/{long['run_id']}/cancel")
        assert running.status_code == 202, running.text
        assert running.json()["status"] == "cancelling"
        asked = time.monotonic()
        body = _wait(adms, long["run_id"], ("cancelled", "done", "failed"), 10)
        assert body["status"] == "cancelled" and time.monotonic() - asked < 5, body
        assert body["buses"] == [] and body["summary"] is None and body["progress"] < 1.0
        # the pool skips the cancelled study: one requested after it runs next
        small = adms.post("/feeders/bw-cancel/hosting-capacity", json={"buses": [5]}).json()
        done = _wait(adms, small["run_id"], ("done",), 30)
        skipped = adms.get(f"/hosting-capacity/{waiting['run_id']}").json()
        assert skipped["status"] == "cancelled" and skipped["started_at"] is None
        assert skipped["buses"] == []
        jobs = ("hosting-capacity", "hosting-capacity run")
        assert_cancel_refusals(adms, *jobs, done["run_id"], "done", long["run_id"])
    with server.client("viewer") as viewer:
        assert viewer.post(f"/hosting-capacity/{long['run_id']}/cancel").status_code == 403
    audit = _audit(server, action="hosting_capacity.cancel")
    assert [(a["target_id"], a["before"], a["after"], a["actor"]) for a in audit] == [
        (long["run_id"], {"status": "running"}, {"status": "cancelling"}, "test-adms"),
        (waiting["run_id"], {"status": "queued"}, {"status": "cancelled"}, "test-adms"),
    ]
