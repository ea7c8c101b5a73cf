"""Bounded work over real HTTP (uvicorn on a free loopback port, SQLite and PostgreSQL): the
tester's 336 h x 1 min request on 15 DERs refused when it is made, naming the limit, the
requested value and the setting; a request just under the memory cap accepted and one period
more refused; the largest accepted dispatch completing within the configured memory budget
(the server's peak RSS growth, ``VmHWM``); hosting-capacity studies bounded the same way; and a
running dispatch cancelled during its LP build and during its HiGHS solve ending ``cancelled``
within seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_fixtures import ApiServer, served, wait_for_status

from gridderms.service.budget import (
    WorkLimits,
    WorkTooLargeError,
    check_dispatch_size,
    dispatch_memory_mb,
    network_size,
)
from gridderms.service.settings import ServiceSettings
from network_models.loaders import load_feeder

START = "2024-06-21T00:00:00Z"
#: a small budget for the memory test: its largest request runs in seconds [MB]
SMALL_BUDGET_MB = 600
#: a running dispatch must be cancelled within this [s]
CANCEL_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The API on SQLite with a dispatch budget of :data:`SMALL_BUDGET_MB` and a study budget
    of 400 MB."""
    env = {
        "GRIDDERMS_MAX_DISPATCH_MEMORY_MB": str(SMALL_BUDGET_MB),
        "GRIDDERMS_MAX_STUDY_MEMORY_MB": "400",
    }
    with served(tmp_path_factory, "sqlite", "bounded-small", **env) as running:
        yield running


def _dispatch(hours: float, step: int, **extra: Any) -> dict[str, Any]:
    return {"start": START, "horizon_h": hours, "step_minutes": step, "execution": "job", **extra}


def _largest_periods(budget_mb: float, formulation: str = "lindistflow") -> int:
    """The most periods of a cigre-mv-der dispatch (15 DERs) whose estimate is in budget."""
    buses, branches = network_size(load_feeder("cigre-mv-der"))
    periods = 1
    while dispatch_memory_mb(formulation, buses, branches, 15, periods + 1) <= budget_mb:
        periods += 1
    return periods


def _refusal(response: httpx.Response) -> str:
    """The message of a 422 refusal of :mod:`gridderms.service.budget`."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["type"] == "work_too_large" and error["loc"][0] == "body", error
    return str(error["msg"])


def _memory(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of process ``pid`` [bytes]."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {
        line.split(":")[0]: int(line.split()[1]) * 1024
        for line in lines
        if line.startswith(("VmRSS", "VmHWM"))
    }


def test_the_testers_request_is_refused_when_made(server: ApiServer) -> None:
    server.load_feeder("tester")
    with server.client("adms") as adms:
        assert len(adms.get("/feeders/tester/ders").json()) == 15
        began = time.monotonic()
        response = adms.post("/feeders/tester/dispatch-runs", json=_dispatch(336.0, 1))
        assert time.monotonic() - began < 5.0  # refused at once, nothing is built
        message = _refusal(response)
        assert message == (
            "the dispatch exceeds the limit on periods: 20,160 requested, at most 2,880 "
            "allowed (setting GRIDDERMS_MAX_DISPATCH_PERIODS); shorten the horizon or "
            "lengthen the step"
        )
        assert adms.get("/feeders/tester/dispatch-runs").json() == []  # nothing queued


def test_just_under_the_memory_cap_is_accepted_one_period_more_is_refused(
    server: ApiServer,
) -> None:
    server.load_feeder("edge")
    periods = _largest_periods(ServiceSettings().max_dispatch_memory_mb)
    assert 1000 < periods < ServiceSettings().max_dispatch_periods  # memory binds first
    with server.client("adms") as adms:
        over = adms.post("/feeders/edge/dispatch-runs", json=_dispatch((periods + 1) / 12, 5))
        message = _refusal(over)
        assert "exceeds the limit on estimated memory" in message, message
        assert f"over {periods + 1} periods" in message
        assert "at most 2,048 MB allowed (setting GRIDDERMS_MAX_DISPATCH_MEMORY_MB)" in message
        under = adms.post("/feeders/edge/dispatch-runs", json=_dispatch(periods / 12, 5))
        assert under.status_code == 202, under.text
        path = f"/dispatch-runs/{under.json()['run_id']}"
        assert adms.post(f"{path}/cancel").status_code in (200, 202)
        run = wait_for_status(adms, path, ("cancelled", "optimal", "infeasible", "failed"), 30)
        assert run["status"] == "cancelled", run


def test_the_largest_accepted_dispatch_stays_within_the_memory_budget(
    small_server: ApiServer,
) -> None:
    server = small_server
    server.load_feeder("budget")
    periods = _largest_periods(SMALL_BUDGET_MB)
    with server.client("adms") as adms:
        warm = adms.post(  # libraries and the feeder's AC model loaded before measuring
            "/feeders/budget/dispatch-runs", json={**_dispatch(1.0, 15), "execution": "inline"}
        )
        assert warm.status_code == 201, warm.text
        over = adms.post("/feeders/budget/dispatch-runs", json=_dispatch((periods + 1) / 12, 5))
        assert f"at most {SMALL_BUDGET_MB} MB allowed" in _refusal(over)
        pid = server.process.pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = _memory(pid)["VmRSS"]
        accepted = adms.post("/feeders/budget/dispatch-runs", json=_dispatch(periods / 12, 5))
        assert accepted.status_code == 202, accepted.text
        path = f"/dispatch-runs/{accepted.json()['run_id']}"
        run = wait_for_status(adms, path, ("optimal", "infeasible", "failed", "cancelled"), 300)
        assert run["status"] == "optimal", run
        points = adms.get(f"{path}/schedule").json()["points"]
        assert len(points) == 15 * periods
        growth_mb = (_memory(pid)["VmHWM"] - before) / 2**20
        print(f"{periods} periods: server peak RSS growth {growth_mb:.0f} MB")
        assert growth_mb < SMALL_BUDGET_MB, growth_mb


def test_hosting_capacity_studies_are_bounded(small_server: ApiServer) -> None:
    small_server.load_feeder("mv-rural", "1-MV-rural--0-sw")
    with small_server.client("adms") as adms:
        base = "/feeders/mv-rural/hosting-capacity"
        year = adms.post(base, json={"timeseries": {"start_step": 0, "n_steps": 35136}})
        message = _refusal(year)
        assert message.startswith(
            "the hosting-capacity study of 97 buses over 35136 window steps exceeds the limit "
            "on estimated memory: "
        ), message
        assert "at most 400 MB allowed (setting GRIDDERMS_MAX_STUDY_MEMORY_MB)" in message
        day = adms.post(base, json={"mode": "gen", "timeseries": {"start_step": 0, "n_steps": 96}})
        assert day.status_code == 202, day.text
        run = wait_for_status(
            adms, f"/hosting-capacity/{day.json()['run_id']}", ("done", "failed"), 120
        )
        assert run["status"] == "done", run


def _cancel_latency(adms: httpx.Client, path: str, after_s: float) -> float:
    """Cancel the running job at ``path`` ``after_s`` [s] after it started running; the time
    [s] from the cancel request to ``cancelled``."""
    wait_for_status(adms, path, ("running",), 60)
    time.sleep(after_s)
    asked = time.monotonic()
    response = adms.post(f"{path}/cancel")
    assert response.status_code == 202, response.text
    run = wait_for_status(adms, path, ("cancelled", "optimal", "infeasible", "failed"), 60)
    latency = time.monotonic() - asked
    assert run["status"] == "cancelled" and run["summary"] is None, run
    assert adms.get(f"{path}/schedule").status_code == 404
    return latency


@pytest.mark.serial
def test_a_running_dispatch_is_cancelled_within_seconds_in_build_and_solve(
    server: ApiServer,
) -> None:
    server.load_feeder("long")
    with server.client("adms") as adms:
        # linearized-ac-full, 24 h x 5 min: about 10 s of LP build (thermal polygons per period)
        full = adms.post(
            "/feeders/long/dispatch-runs",
            json=_dispatch(24.0, 5, formulation="linearized-ac-full"),
        )
        assert full.status_code == 202, full.text
        in_build = _cancel_latency(adms, f"/dispatch-runs/{full.json()['run_id']}", 2.0)
        # LinDistFlow, a week x 5 min: about 2 s of build, then a HiGHS solve of several s
        week = adms.post("/feeders/long/dispatch-runs", json=_dispatch(168.0, 5))
        assert week.status_code == 202, week.text
        in_solve = _cancel_latency(adms, f"/dispatch-runs/{week.json()['run_id']}", 3.5)
    print(f"cancelled in {in_build:.2f} s during the build, {in_solve:.2f} s during the solve")
    assert in_build < CANCEL_WITHIN_S and in_solve < CANCEL_WITHIN_S, (in_build, in_solve)


def test_limits_come_from_the_settings_and_name_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDDERMS_MAX_DISPATCH_DER_PERIODS", "5000")
    limits = WorkLimits.from_settings()
    assert limits.max_der_periods == 5000
    assert limits.max_periods == ServiceSettings().max_dispatch_periods
    check_dispatch_size(limits, "lindistflow", 15, 17, 50, 100)  # 5,000: at the cap
    with pytest.raises(WorkTooLargeError) as refused:
        check_dispatch_size(limits, "lindistflow", 15, 17, 50, 101)
    assert str(refused.value) == (
        "the dispatch of 50 DERs over 101 periods exceeds the limit on DERs x periods: 5,050 "
        "requested, at most 5,000 allowed (setting GRIDDERMS_MAX_DISPATCH_DER_PERIODS); "
        "shorten the horizon or lengthen the step"
    )
    assert (refused.value.requested, refused.value.allowed) == (5050, 5000)


def test_the_command_line_keeps_the_caps_unless_allowed_larger(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridderms.cli import main

    monkeypatch.setenv("GRIDDERMS_MAX_DISPATCH_PERIODS", "100")
    day = ["dispatch", "cigre-mv-der", "--horizon-h", "24", "--step-min", "5", "--json",
           "--start", "2024-06-21T00:00Z"]  # fmt: skip
    assert main(day) == 2
    error = capsys.readouterr().err
    assert (
        "the dispatch exceeds the limit on periods: 288 requested, at most 100 allowed (setting "
        "GRIDDERMS_MAX_DISPATCH_PERIODS); shorten the horizon or lengthen the step; or pass "
        "--allow-large (up to half the free memory)"
    ) in error, error
    assert main([*day, "--allow-large"]) == 0
    capsys.readouterr()
    tester = ["dispatch", "cigre-mv-der", "--horizon-h", "336", "--step-min", "1", "--allow-large"]
    monkeypatch.setattr("gridderms.service.budget.machine_limits", lambda: WorkLimits(
        2**62, 2**62, 8192.0, 8192.0))  # fmt: skip
    assert main(tester) == 2  # still refused: ~16 GB estimated
    assert "at most 8,192 MB allowed (half the free memory)" in capsys.readouterr().err
