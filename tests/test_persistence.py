"""Persistence on SQLite and a real PostgreSQL server: migrations up and down, the schema
matching the ORM models, refusal of an unmigrated database, one active schedule per feeder,
and a writer killed mid-transaction leaving the previous active schedule intact."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from service_fixtures import BACKENDS, REPO, fresh_database
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.app import create_app
from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.migrate import (
    DatabaseNotMigratedError,
    check_migrated,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from gridderms.persistence.models import (
    Base,
    FeederRow,
    SchedulePointRow,
    ScheduleRow,
    utcnow,
)
from gridderms.persistence.runs import write_schedule
from gridderms.service.settings import ServiceSettings

TABLES = {
    "feeders",
    "feeder_versions",
    "ders",
    "der_groups",
    "telemetry",
    "dispatch_runs",
    "schedules",
    "schedule_points",
    "envelopes",
    "commands",
    "alarms",
    "audit_log",
    "api_keys",
}


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    return fresh_database(request.param, tmp_path)


def test_migration_up_down_up_and_schema_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(database_url)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migration disagree: {diff}"
        downgrade(database_url, "base")
        assert current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(database_url)
        assert check_migrated(engine) == head_revision()
    finally:
        engine.dispose()


def test_service_refuses_an_unmigrated_database(database_url: str) -> None:
    app = create_app(ServiceSettings(database_url=database_url))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(DatabaseNotMigratedError) as raised:
        asyncio.run(start())
    message = str(raised.value)
    assert "has no gridderms schema" in message and "gridderms-service migrate" in message
    assert head_revision() in message


def _feeder_with_active_schedule(url: str, n_points: int = 30) -> tuple[int, int]:
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            feeder = FeederRow(name="f", source="cigre-mv-der", switch_closed={})
            session.add(feeder)
            session.flush()
            schedule = _activate(
                session, feeder.id, n_points, (_point(period) for period in range(n_points))
            )
            session.commit()
            return feeder.id, schedule.id
    finally:
        engine.dispose()


def _point(period: int, der_id: str = "pv-1") -> dict[str, object]:
    return {
        "der_id": der_id,
        "period": period,
        "p_mw": 0.5,
        "q_mvar": 0.0,
        "p_available_mw": 0.5,
        "curtailed_mw": 0.0,
        "mode": "active_power_limit",
    }


def _activate(
    session: Session, feeder_id: int, n_periods: int, points: Iterable[dict[str, object]]
) -> ScheduleRow:
    """Write an AC-feasible 15-min schedule of ``n_periods`` starting now and activate it."""
    return write_schedule(
        session,
        feeder_id=feeder_id,
        run_id=None,
        start=utcnow(),
        step_minutes=15,
        n_periods=n_periods,
        ac_feasible=True,
        activate=True,
        points=points,
    )


def test_at_most_one_active_schedule_per_feeder(database_url: str) -> None:
    feeder_id, first = _feeder_with_active_schedule(database_url)
    engine = make_engine(database_url)
    try:
        factory = session_factory(engine)
        with factory() as session:
            session.add(
                ScheduleRow(
                    feeder_id=feeder_id,
                    state="active",
                    start=utcnow(),
                    step_minutes=15,
                    n_periods=1,
                    ac_feasible=True,
                )
            )
            with pytest.raises(IntegrityError):
                session.commit()
        with factory() as session:
            second = _activate(session, feeder_id, 2, [_point(0), _point(1)])
            session.commit()
            states = dict(session.execute(select(ScheduleRow.id, ScheduleRow.state)).all())
        assert states == {first: "superseded", second.id: "active"}
    finally:
        engine.dispose()


# The writer: supersedes the active schedule, inserts the new one as active, streams its points
# and is killed (SIGKILL) by the test half-way through, before it can commit.
_WRITER = """
import sys, time
from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.models import utcnow
from gridderms.persistence.runs import write_schedule

url, feeder_id = sys.argv[1], int(sys.argv[2])

def points():
    for period in range(100_000):
        if period == 2_000:
            print("MID-WRITE", flush=True)
            time.sleep(600)
        yield {"der_id": "pv-2", "period": period, "p_mw": 1.0, "q_mvar": 0.0,
               "p_available_mw": 1.0, "curtailed_mw": 0.0, "mode": "active_power_limit"}

with session_factory(make_engine(url))() as session:
    write_schedule(session, feeder_id=feeder_id, run_id=None, start=utcnow(), step_minutes=15,
                   n_periods=100_000, ac_feasible=True, activate=True, points=points())
    session.commit()
print("COMMITTED", flush=True)
"""


def test_killed_writer_leaves_the_previous_active_schedule(database_url: str) -> None:
    feeder_id, previous = _feeder_with_active_schedule(database_url)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, database_url, str(feeder_id)],
        cwd=REPO,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line.strip() == "MID-WRITE", writer.stderr.read() if writer.stderr else line
        engine = make_engine(database_url)
        try:
            factory = session_factory(engine)
            with factory() as session:  # mid-write: readers still see the previous schedule
                active = session.scalars(
                    select(ScheduleRow.id).where(ScheduleRow.state == "active")
                ).all()
                assert active == [previous]
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(timeout=30)
            assert writer.returncode == -signal.SIGKILL
            with factory() as session:
                rows = session.execute(select(ScheduleRow.id, ScheduleRow.state)).all()
                assert rows == [(previous, "active")]
                counts = dict(
                    session.execute(
                        select(SchedulePointRow.schedule_id, func.count()).group_by(
                            SchedulePointRow.schedule_id
                        )
                    ).all()
                )
                assert counts == {previous: 30}
            with factory() as session:  # the database takes the next write normally
                replacement = _activate(session, feeder_id, 1, [_point(0, "pv-3")])
                session.commit()
                active = session.scalars(
                    select(ScheduleRow.id).where(ScheduleRow.state == "active")
                ).all()
                assert active == [replacement.id]
        finally:
            engine.dispose()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
