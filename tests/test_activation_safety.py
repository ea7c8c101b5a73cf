"""Safe decisions before anything reaches a device, on SQLite and PostgreSQL:

- a DER locked out, overridden or declared offline while a dispatch run is solving is not
  commanded by the run's schedule: the run solves again with the new state, or, when the DER
  keeps changing, stores its schedule without activating it, and approval is refused until the
  feeder is dispatched again (the tester's race, made deterministic: the operator acts over
  real HTTP between the run's read of the DERs and its solve);
- every set-point is within the DER's capability: an override outside its active-power range
  or its reactive capability at that power is a 422 naming the limit, one for a locked-out DER
  a 409, and the schedule commands carry only points within capability;
- telemetry is idempotent: a batch posted twice is stored once, the duplicates counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from payloads import FEASIBLE
from service_fixtures import ApiServer, commands

from gridderms.ders import BatteryStorage, EvCharger, FlexibleLoad, PvSystem, ReactiveCapability
from gridderms.ders.setpoints import SetpointError, check_setpoint, p_range_mw
from gridderms.persistence.database import make_engine, session_factory
from gridderms.service.dispatch_runs import DispatchSpec, execute_run, request_run
from gridderms.service.feeder_models import FeederModels
from gridderms.service.principals import Principal
from solvers.limits import OperatingLimits

REPO = Path(__file__).resolve().parents[1]
SPEC = {**FEASIBLE, "execution": "job"}
LIMITS = OperatingLimits(vm_min_pu=0.9, vm_max_pu=1.1, max_loading_percent=200.0)
ADMS = Principal("test-adms", "adms")


def _run_in_process(
    server: ApiServer, name: str, after_read: Callable[[int], None]
) -> dict[str, Any]:
    """Request and execute a dispatch run of ``name`` in this process, against the server's
    database, calling ``after_read`` between each read of the DERs and its solve; return the
    run as the API shows it."""
    engine = make_engine(server.database_url)
    try:
        factory = session_factory(engine)
        models = FeederModels(REPO / ".cache" / "feeders")
        with factory() as session:
            run, _ = request_run(session, models, ADMS, name, DispatchSpec.model_validate(SPEC), 0)
            run_id = run.run_id
        execute_run(factory, models, run_id, LIMITS, after_read=after_read)
    finally:
        engine.dispose()
    with server.client("adms") as adms:
        body: dict[str, Any] = adms.get(f"/dispatch-runs/{run_id}").json()
    return body


@pytest.mark.parametrize(
    "change",
    [
        ("post", "/ders/sgen-3/lockout", None),
        ("put", "/ders/sgen-3/override", {"p_mw": 0.0}),
        ("put", "/ders/sgen-3/availability", {"status": "offline"}),
    ],
    ids=["lockout", "override", "offline"],
)
def test_a_der_changed_during_the_solve_gets_no_schedule_command(
    server: ApiServer, change: tuple[str, str, dict[str, Any] | None]
) -> None:
    method, path, body = change
    name = f"race-{path.split('/')[-1]}"
    server.load_feeder(name, mode="automatic")
    role = "adms" if path.endswith("availability") else "operator"
    solves: list[int] = []

    def operator_acts(solve: int) -> None:
        solves.append(solve)
        if solve == 1:  # the operator acts while the first solve runs
            with server.client(role) as client:
                response = client.request(method, f"/feeders/{name}{path}", json=body)
                assert response.status_code == 200, response.text

    run = _run_in_process(server, name, operator_acts)
    assert run["status"] == "optimal"
    assert solves == [1, 2]  # the change was seen: read again, solved again
    notes = run["summary"]["notes"]
    assert any("sgen-3" in note and "solved again" in note for note in notes), notes
    with server.client("adms") as adms:
        active = adms.get(f"/feeders/{name}/schedules/active")
        assert active.status_code == 200, active.text
        points = [p for p in active.json()["points"] if p["der_id"] == "sgen-3"]
        assert points and all(p["mode"] == "fixed" for p in points)
        schedule_commands = commands(adms, name, kind="schedule", status="pending")
        assert schedule_commands, "the other DERs are commanded"
        assert "sgen-3" not in {c["der_id"] for c in schedule_commands}


def test_a_der_that_keeps_changing_holds_the_schedule_for_approval(server: ApiServer) -> None:
    name = "race-flapping"
    server.load_feeder(name, mode="automatic")

    def operator_flaps(solve: int) -> None:  # lock out, release, lock out: after every read
        action = "lockout" if solve % 2 else "release"
        with server.client("operator") as operator:
            response = operator.post(f"/feeders/{name}/ders/sgen-3/{action}")
            assert response.status_code == 200, response.text

    run = _run_in_process(server, name, operator_flaps)
    assert run["status"] == "optimal"
    held = run["summary"]["activation"]["held"]
    assert any("sgen-3 (locked_out)" in reason for reason in held), held
    with server.client("adms") as adms, server.client("operator") as operator:
        assert adms.get(f"/feeders/{name}/schedules/active").status_code == 404
        assert commands(adms, name, kind="schedule") == []
        schedule = adms.get(f"/dispatch-runs/{run['run_id']}/schedule").json()
        assert schedule["state"] == "pending_approval", schedule
        refused = operator.post(f"/feeders/{name}/schedules/{schedule['schedule_id']}/approve")
        assert refused.status_code == 409, refused.text
        assert "sgen-3" in refused.json()["detail"] and "dispatch again" in refused.json()["detail"]


def test_approval_commands_only_ders_that_may_be_commanded_now(server: ApiServer) -> None:
    name = "approve-after-lockout"
    server.load_feeder(name, mode="manual")
    with server.client("adms") as adms, server.client("operator") as operator:
        response = adms.post(f"/feeders/{name}/dispatch-runs", json={**SPEC, "execution": "inline"})
        assert response.status_code == 201, response.text
        schedule = adms.get(f"/dispatch-runs/{response.json()['run_id']}/schedule").json()
        assert operator.post(f"/feeders/{name}/ders/sgen-3/lockout").status_code == 200
        refused = operator.post(f"/feeders/{name}/schedules/{schedule['schedule_id']}/approve")
        assert refused.status_code == 409 and "sgen-3" in refused.json()["detail"]
        assert commands(adms, name, kind="schedule") == []


def test_overrides_are_checked_against_the_capability(server: ApiServer) -> None:
    name = "override-checks"
    server.load_feeder(name, mode="automatic")
    with server.client("operator") as operator, server.client("adms") as adms:
        der = adms.get(f"/feeders/{name}/ders/sgen-3").json()
        nameplate = der["record"]["p_nameplate_mw"]
        s_rated = der["record"]["reactive"]["s_rated_mva"]
        path = f"/feeders/{name}/ders/sgen-3/override"
        # the tester's set-point: -10,000 MW on a PV system
        refused = operator.put(path, json={"p_mw": -10000.0})
        assert refused.status_code == 422, refused.text
        assert "active-power range" in refused.text and "p_mw = -10000" in refused.text
        above = operator.put(path, json={"p_mw": nameplate * 1.5})
        assert above.status_code == 422 and "p_nameplate_mw" in above.text
        too_much_q = operator.put(path, json={"p_mw": nameplate / 2, "q_mvar": s_rated})
        assert too_much_q.status_code == 422 and "reactive capability" in too_much_q.text
        assert commands(adms, name, kind="setpoint") == []  # nothing queued
        accepted = operator.put(path, json={"p_mw": nameplate / 2, "q_mvar": 0.0})
        assert accepted.status_code == 200, accepted.text
        (queued,) = commands(adms, name, kind="setpoint", status="pending")
        assert queued["payload"] == {"p_mw": nameplate / 2, "q_mvar": 0.0}
        assert operator.post(f"/feeders/{name}/ders/sgen-4/lockout").status_code == 200
        locked = operator.put(f"/feeders/{name}/ders/sgen-4/override", json={"p_mw": 0.0})
        assert locked.status_code == 409 and "locked_out" in locked.text


def test_telemetry_batches_are_idempotent(server: ApiServer) -> None:
    name = "idempotent"
    server.load_feeder(name, mode="automatic")
    batch = {
        "measurements": [
            {"der_id": "sgen-3", "measured_at": "2024-06-21T09:50:00Z", "p_mw": 0.01},
            {"der_id": "sgen-3", "measured_at": "2024-06-21T09:55:00+00:00", "p_mw": 0.012},
            {"measured_at": "2024-06-21T09:55:00Z", "p_mw": 1.5},  # the feeder head
        ]
    }
    with server.client("adms") as adms:
        first = adms.post(f"/feeders/{name}/telemetry", json=batch)
        assert first.status_code == 201 and first.json()["accepted"] == 3, first.text
        retry = adms.post(f"/feeders/{name}/telemetry", json=batch)
        assert retry.status_code == 201, retry.text
        assert (retry.json()["accepted"], retry.json()["duplicates"]) == (0, 3)
        # the same instant in another offset is the same measurement
        same = {"der_id": "sgen-3", "measured_at": "2024-06-21T11:50:00+02:00", "p_mw": 0.01}
        again = adms.post(f"/feeders/{name}/telemetry", json={"measurements": [same, same]})
        assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 2)
        # a client id tells two measurements of the same instant apart
        tagged = {"measurements": [{**same, "client_id": "meter-a"}, {**same, "client_id": "b"}]}
        assert adms.post(f"/feeders/{name}/telemetry", json=tagged).json()["accepted"] == 2
        stored = adms.get(f"/feeders/{name}/telemetry", params={"limit": 100}).json()
        assert len(stored) == 5


# -- the capability check itself ---------------------------------------------------------------

REACTIVE = ReactiveCapability(s_rated_mva=0.1, pf_min=0.9, ieee1547_category="B")


def test_setpoint_ranges_of_every_der_type() -> None:
    pv = PvSystem(
        der_type="pv", der_id="pv", name="", bus=1, reactive=REACTIVE,
        p_nameplate_mw=0.1, p_available_mw=0.05, p_limit_mw=0.08, curtailable=True,
    )  # fmt: skip
    battery = BatteryStorage(
        der_type="battery", der_id="bat", name="", bus=1, reactive=REACTIVE,
        p_charge_max_mw=0.04, p_discharge_max_mw=0.05, e_capacity_mwh=0.2,
        soc_min_percent=10.0, soc_max_percent=90.0, soc_initial_percent=50.0,
        charge_efficiency=0.95, discharge_efficiency=0.95,
    )  # fmt: skip
    ev = EvCharger(
        der_type="ev_charger", der_id="ev", name="", bus=1, reactive=REACTIVE,
        p_max_mw=0.011, energy_need_mwh=0.01,
        arrival="2024-06-21T08:00:00Z", departure="2024-06-21T16:00:00Z",
    )  # fmt: skip
    load = FlexibleLoad(
        der_type="flexible_load", der_id="load", name="", bus=1, reactive=REACTIVE,
        p_min_mw=0.01, p_baseline_mw=0.02, p_max_mw=0.03,
        window_start="2024-06-21T08:00:00Z", window_end="2024-06-21T16:00:00Z",
    )  # fmt: skip
    ranges = {der.der_id: p_range_mw(der) for der in (pv, battery, ev, load)}
    assert (ranges["pv"].p_min_mw, ranges["pv"].p_max_mw) == (0.0, 0.08)  # the declared limit
    assert (ranges["bat"].p_min_mw, ranges["bat"].p_max_mw) == (-0.04, 0.05)
    assert (ranges["ev"].p_min_mw, ranges["ev"].p_max_mw) == (-0.011, 0.0)
    assert (ranges["load"].p_min_mw, ranges["load"].p_max_mw) == (-0.03, -0.01)
    for der in (pv, battery, ev, load):
        span = ranges[der.der_id]
        assert check_setpoint(der, span.p_min_mw, 0.0)[0] == span.p_min_mw
        for p_mw in (span.p_min_mw - 1e-3, span.p_max_mw + 1e-3, math.nan):
            with pytest.raises(SetpointError, match=der.der_id):
                check_setpoint(der, p_mw, 0.0)
    # reactive capability at P: the power-factor limit 0.05 * tan(acos 0.9) = 0.0242 MVAr
    q_pf = 0.05 * math.tan(math.acos(0.9))
    assert check_setpoint(battery, 0.05, q_pf) == (0.05, q_pf)
    assert check_setpoint(battery, 0.05, q_pf + 5e-7) == (0.05, q_pf)  # clipped
    with pytest.raises(SetpointError, match="reactive capability"):
        check_setpoint(battery, 0.05, q_pf + 1e-3)
    with pytest.raises(SetpointError, match="reactive capability"):
        check_setpoint(battery, 0.0, 0.01)  # no reactive power at zero active power


def test_lockout_at_20_percent_of_a_real_job_is_not_dispatched(
    servers: dict[str, ApiServer],
) -> None:
    """The tester's reproduction over real HTTP on PostgreSQL: a background job (6 h at
    5 min, ``linearized-ac-full``), the DER locked out as soon as the run reports 20 %
    progress (it has read the DERs and is solving)."""
    server = servers["postgresql"]
    name = "race-live"
    server.load_feeder(name, mode="automatic")
    spec = {
        **SPEC,
        "start": "2024-06-21T08:00:00Z",
        "horizon_h": 6.0,
        "step_minutes": 5,
        "formulation": "linearized-ac-full",
    }
    with server.client("adms") as adms, server.client("operator") as operator:
        run = adms.post(f"/feeders/{name}/dispatch-runs", json=spec).json()
        deadline = time.monotonic() + 120
        while (state := adms.get(f"/dispatch-runs/{run['run_id']}").json())["progress"] < 0.2:
            assert state["status"] in ("queued", "running"), state
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert state["status"] == "running" and state["progress"] < 0.9, state
        assert operator.post(f"/feeders/{name}/ders/sgen-3/lockout").status_code == 200
        while (state := adms.get(f"/dispatch-runs/{run['run_id']}").json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert state["status"] == "optimal", state
        commanded = {c["der_id"] for c in commands(adms, name, kind="schedule")}
        assert commanded and "sgen-3" not in commanded
        active = adms.get(f"/feeders/{name}/schedules/active", params={"der_id": "sgen-3"})
        if active.status_code == 200:  # solved again without the DER
            assert all(p["mode"] == "fixed" for p in active.json()["points"])
        else:  # or held for approval, the DER named
            held = state["summary"]["activation"]["held"]
            assert any("sgen-3" in reason for reason in held), held
