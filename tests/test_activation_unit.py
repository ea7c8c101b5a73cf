"""Schedule activation in process, without solving: :func:`store_result`'s activation
condition (automatic mode, AC-feasible, same topology version, same DER states) and
:func:`decide` (approve, reject, refusals), each pinned by the schedule state, the commands
queued and the audit row (``make mutate`` runs these against mutants of both; the HTTP and
PostgreSQL races are in tests/test_api.py, tests/test_activation_safety.py and
tests/test_pg_race.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.models import AuditRow, Base, CommandRow, ScheduleRow
from gridderms.persistence.runs import schedule_envelopes
from gridderms.service import dispatch_runs as dispatch
from gridderms.service import feeder_models, feeders
from gridderms.service.activation import der_versions
from gridderms.service.ders import ders_of
from gridderms.service.errors import ConflictError
from gridderms.service.principals import SYSTEM, Principal

FEEDER = "act"
OPERATOR = Principal("op-1", "operator")
SPEC = {"start": "2024-06-21T10:00:00Z", "horizon_h": 1.0, "step_minutes": 15}
N_PERIODS = 4


@dataclass
class FakeResult:
    """What :func:`store_result` reads of a dispatch result."""

    status: str
    ac_feasible: bool
    schedule: pd.DataFrame
    diagnosis: list[dict[str, Any]] | None = None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"status": self.status, "ac_feasible": self.ac_feasible}
        if self.diagnosis is not None:
            summary["diagnosis"] = self.diagnosis
            summary["notes"] = ["solver note"]
        return summary


@dataclass
class Env:
    sessions: sessionmaker[Session]
    models: feeder_models.FeederModels


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
) -> tuple[Path, feeder_models.FeederModels]:
    """A SQLite database with feeder ``act`` (CIGRE MV, 15 DERs) loaded, manual mode, and the
    in-memory models (shared: every copy has the feeder at the same version)."""
    path = tmp_path_factory.mktemp("activation") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    models = feeder_models.FeederModels(cache_dir)
    try:
        with session_factory(engine)() as session:
            feeders.load_builtin(session, models, SYSTEM, "cigre-mv-der", FEEDER)
    finally:
        engine.dispose()
    return path, models


@pytest.fixture
def env(tmp_path: Path, template: tuple[Path, feeder_models.FeederModels]) -> Iterator[Env]:
    """A fresh copy of the template database."""
    path = tmp_path / "act.db"
    shutil.copyfile(template[0], path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield Env(session_factory(engine), template[1])
    finally:
        engine.dispose()


def _mode(env: Env, mode: str) -> None:
    with env.sessions() as session:
        dispatch.set_mode(session, SYSTEM, FEEDER, mode)


def _schedule_frame(session: Session) -> pd.DataFrame:
    """A zero set-point for every DER and period (within every capability)."""
    rows = ders_of(session, feeder_by_name(session, FEEDER))
    points = [
        {
            "der_id": row.der_id,
            "period": period,
            "p_mw": 0.0,
            "q_mvar": 0.0,
            "p_available_mw": 0.0,
            "curtailed_mw": 0.0,
            "mode": "controlled",
        }
        for row in rows
        for period in range(N_PERIODS)
    ]
    return pd.DataFrame(points)


def _store(
    env: Env,
    *,
    status: str = "optimal",
    ac_feasible: bool = True,
    bump_version: bool = False,
    der_changed: bool = False,
    frame: pd.DataFrame | None = None,
    diagnosis: list[dict[str, Any]] | None = None,
    solve_notes: list[str] | None = None,
    der_state: bool = True,
) -> tuple[str, int | None]:
    """Request a run, then store a fake result as :func:`execute_run` does; return the run
    id and the schedule id."""
    with env.sessions() as session:
        spec = dispatch.DispatchSpec.model_validate(SPEC)
        run, _ = dispatch.request_run(session, env.models, SYSTEM, FEEDER, spec, 0)
        run_id = run.run_id
    with env.sessions() as session:
        run = dispatch.run_by_id(session, run_id)
        feeder = feeder_by_name(session, FEEDER, for_update=True)
        read = der_versions(ders_of(session, feeder))
        if der_changed:
            read = {**read, "sgen-3": read["sgen-3"] - 1}
        run.der_state = read if der_state else None
        if bump_version:
            feeder.version += 1
        result = FakeResult(
            status, ac_feasible, _schedule_frame(session) if frame is None else frame, diagnosis
        )
        spec = dispatch.DispatchSpec.model_validate(SPEC)
        schedule = dispatch.store_result(
            session,
            run,
            feeder,
            spec,
            spec.horizon(),
            result,  # type: ignore[arg-type]
            solve_notes=solve_notes,
        )
        session.commit()
        return run_id, None if schedule is None else schedule.id


def _state(env: Env) -> dict[str, Any]:
    with env.sessions() as session:
        schedules = session.execute(
            select(ScheduleRow.id, ScheduleRow.state, ScheduleRow.decided_by).order_by(
                ScheduleRow.id
            )
        ).all()
        commands = session.execute(
            select(CommandRow.schedule_id, CommandRow.der_id, CommandRow.status).where(
                CommandRow.kind == "schedule"
            )
        ).all()
        audit = [
            (a.actor, a.action, a.target_id, a.after)
            for a in session.scalars(
                select(AuditRow).where(AuditRow.target_type == "schedule").order_by(AuditRow.id)
            )
        ]
    return {
        "schedules": [tuple(s) for s in schedules],
        "pending": sorted((c.schedule_id, c.der_id) for c in commands if c.status == "pending"),
        "superseded": sorted(c.schedule_id for c in commands if c.status == "superseded"),
        "audit": audit,
    }


def _run_summary(env: Env, run_id: str) -> dict[str, Any]:
    with env.sessions() as session:
        run = dispatch.run_by_id(session, run_id)
        return {
            "status": run.status,
            "progress": run.progress,
            "summary": run.summary,
            "diagnosis": run.diagnosis,
            "finished": run.finished_at is not None,
        }


def _der_ids(env: Env) -> list[str]:
    with env.sessions() as session:
        return [row.der_id for row in ders_of(session, feeder_by_name(session, FEEDER))]


# -- automatic activation ---------------------------------------------------------------------
def test_automatic_mode_activates_a_feasible_schedule_and_queues_its_commands(env: Env) -> None:
    _mode(env, "automatic")
    run_id, first = _store(env)
    ders = _der_ids(env)
    state = _state(env)
    assert state["schedules"] == [(first, "active", "system")]
    assert state["pending"] == sorted((first, d) for d in ders)
    assert state["audit"][-1] == (
        "system",
        "schedule.activate_automatic",
        f"{FEEDER}/{first}",
        {"run_id": run_id, "operating_mode": "automatic", "commands": len(ders)},
    )
    summary = _run_summary(env, run_id)
    assert summary["status"] == "optimal" and summary["progress"] == 1.0
    assert "activation" not in summary["summary"]
    _, second = _store(env)  # the next one supersedes it and its commands
    state = _state(env)
    assert state["schedules"] == [(first, "superseded", "system"), (second, "active", "system")]
    assert {s for s, _ in state["pending"]} == {second}
    assert state["superseded"] == [first] * len(ders)


def test_manual_mode_leaves_the_schedule_for_approval(env: Env) -> None:
    run_id, schedule = _store(env)
    state = _state(env)
    assert state["schedules"] == [(schedule, "pending_approval", None)]
    assert state["pending"] == [] and state["audit"] == []
    assert "activation" not in _run_summary(env, run_id)["summary"]


@pytest.mark.parametrize(
    ("kwargs", "held"),
    [
        ({"ac_feasible": False}, None),
        ({"bump_version": True}, "the topology changed while the run solved (version 0 -> 1)"),
        ({"der_changed": True}, "DERs changed while the run solved: sgen-3 (available)"),
    ],
)
def test_automatic_activation_needs_ac_feasibility_and_what_the_run_read(
    env: Env, kwargs: dict[str, bool], held: str | None
) -> None:
    _mode(env, "automatic")
    run_id, schedule = _store(env, **kwargs)
    state = _state(env)
    assert state["schedules"] == [(schedule, "pending_approval", None)]
    assert state["pending"] == [] and state["audit"] == []
    summary = _run_summary(env, run_id)["summary"]
    if held is None:
        assert "activation" not in summary
    else:
        assert summary["activation"] == {"held": [held]}


def test_a_point_beyond_its_der_is_held_not_activated(env: Env) -> None:
    _mode(env, "automatic")
    with env.sessions() as session:
        frame = _schedule_frame(session)
    frame.loc[frame.der_id == "sgen-3", "p_mw"] = 1e4
    run_id, schedule = _store(env, frame=frame)
    assert _state(env)["schedules"] == [(schedule, "pending_approval", None)]
    (held,) = _run_summary(env, run_id)["summary"]["activation"]["held"]
    assert "sgen-3" in held


def test_an_infeasible_run_stores_no_schedule(env: Env) -> None:
    _mode(env, "automatic")
    run_id, schedule = _store(env, status="infeasible", ac_feasible=False)
    assert schedule is None
    assert _state(env)["schedules"] == []
    summary = _run_summary(env, run_id)
    assert summary["status"] == "infeasible" and summary["progress"] == 1.0
    assert "activation" not in summary["summary"]


# -- approval ---------------------------------------------------------------------------------
def _decide(env: Env, schedule_id: int, approve: bool, feeder: str = FEEDER) -> ScheduleRow:
    with env.sessions() as session:
        return dispatch.decide(session, OPERATOR, feeder, schedule_id, approve=approve)


def _refused_approval(env: Env, schedule_id: int) -> str:
    """The message of the conflict that approving ``schedule_id`` raises."""
    with pytest.raises(ConflictError) as raised:
        _decide(env, schedule_id, True)
    return str(raised.value)


def test_approval_activates_once_and_queues_the_commands(env: Env) -> None:
    _, first = _store(env)
    _, second = _store(env)
    assert first is not None and second is not None
    approved = _decide(env, first, True)
    assert (approved.state, approved.decided_by) == ("active", "op-1")
    assert approved.activated_at is not None
    ders = _der_ids(env)
    assert _state(env)["pending"] == sorted((first, d) for d in ders)
    assert _refused_approval(env, first) == f"schedule {first} is active, not pending_approval"
    _decide(env, second, True)
    state = _state(env)
    assert state["schedules"] == [(first, "superseded", "op-1"), (second, "active", "op-1")]
    assert {s for s, _ in state["pending"]} == {second}
    assert [(a[0], a[1], a[2], a[3]) for a in state["audit"]] == [
        ("op-1", "schedule.approve", f"{FEEDER}/{first}", {"state": "active"}),
        ("op-1", "schedule.approve", f"{FEEDER}/{second}", {"state": "active"}),
    ]
    with env.sessions() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.action == "schedule.approve"))
        assert {(r.role, str(r.before)) for r in rows} == {
            ("operator", "{'state': 'pending_approval'}")
        }


def test_rejection_queues_nothing_and_is_final(env: Env) -> None:
    _, schedule = _store(env)
    assert schedule is not None
    rejected = _decide(env, schedule, False)
    assert (rejected.state, rejected.decided_by) == ("rejected", "op-1")
    state = _state(env)
    assert state["pending"] == []
    assert state["audit"] == [
        ("op-1", "schedule.reject", f"{FEEDER}/{schedule}", {"state": "rejected"})
    ]
    with pytest.raises(ConflictError, match="is rejected, not pending_approval"):
        _decide(env, schedule, True)


def test_approval_is_refused_on_a_newer_topology_rejection_is_not(env: Env) -> None:
    _, schedule = _store(env)
    _, other = _store(env)
    assert schedule is not None and other is not None
    with env.sessions() as session:
        feeder = feeder_by_name(session, FEEDER)
        feeder.version += 1
        session.commit()
    assert _refused_approval(env, schedule) == (
        f"schedule {schedule} was computed on topology version 0; feeder '{FEEDER}' is now at "
        f"version 1: dispatch again"
    )
    assert _decide(env, other, False).state == "rejected"
    assert _state(env)["schedules"][0] == (schedule, "pending_approval", None)


def test_approval_is_refused_when_ders_changed(env: Env) -> None:
    _, schedule = _store(env, der_changed=True)
    assert schedule is not None
    assert _refused_approval(env, schedule) == (
        f"schedule {schedule}: DERs changed since it was computed: sgen-3 (available); "
        f"dispatch again"
    )
    assert _decide(env, schedule, False).state == "rejected"


def test_unknown_schedules_and_feeders_are_not_found(env: Env) -> None:
    _, schedule = _store(env)
    assert schedule is not None
    with env.sessions() as session:
        feeders.load_builtin(session, env.models, SYSTEM, "cigre-mv-der", "other")
    for feeder, schedule_id in ((FEEDER, 999), ("other", schedule), ("nowhere", schedule)):
        with pytest.raises(RecordNotFoundError):
            _decide(env, schedule_id, True, feeder)
    assert _state(env)["schedules"] == [(schedule, "pending_approval", None)]


def test_the_run_keeps_its_outcome_notes_diagnosis_and_envelopes(env: Env) -> None:
    _mode(env, "automatic")
    with env.sessions() as session:
        frame = _schedule_frame(session)
    frame["envelope_p_min_mw"] = -0.5
    frame["envelope_p_max_mw"] = 0.5
    run_id, schedule = _store(env, frame=frame, solve_notes=["solved again"])
    summary = _run_summary(env, run_id)
    assert summary["finished"] and summary["diagnosis"] == []
    assert summary["summary"]["notes"] == ["solved again"]
    with env.sessions() as session:
        schedule_row = session.get_one(ScheduleRow, schedule)
        envelopes = schedule_envelopes(session, schedule_row)
        assert len(envelopes) == len(frame)
        assert {(e.p_min_mw, e.p_max_mw) for e in envelopes} == {(-0.5, 0.5)}
    limits = [{"limit": "thermal", "element": "trafo", "element_id": 0, "amount": 1.0}]
    run_id, none = _store(
        env, status="infeasible", ac_feasible=False, frame=pd.DataFrame(), diagnosis=limits
    )
    assert none is None
    summary = _run_summary(env, run_id)
    assert summary["finished"] and summary["diagnosis"] == limits
    assert summary["summary"]["notes"] == ["solver note"]
    run_id, _ = _store(env, diagnosis=[], solve_notes=["again"])
    assert _run_summary(env, run_id)["summary"]["notes"] == ["solver note", "again"]


def test_approval_checks_each_point_against_its_der(env: Env) -> None:
    with env.sessions() as session:
        frame = _schedule_frame(session)
    frame.loc[(frame.der_id == "sgen-3") & (frame.period == 2), "p_mw"] = 1e4
    _, schedule = _store(env, frame=frame)
    assert schedule is not None
    message = _refused_approval(env, schedule)
    assert message.startswith(f"schedule {schedule}: ") and "sgen-3" in message
    assert "schedule period 2" in message
    assert _state(env)["schedules"] == [(schedule, "pending_approval", None)]


def test_a_run_without_recorded_der_states_can_be_approved(env: Env) -> None:
    """Runs stored before DER states were recorded (``der_state`` NULL) stay approvable."""
    _, schedule = _store(env, der_state=False)
    assert schedule is not None
    assert _decide(env, schedule, True).state == "active"
