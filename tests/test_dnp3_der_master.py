"""The bridge as the DNP3 master of a feeder's DERs, on a real database and real devices on
127.0.0.1: polls stored as telemetry, pending set-points delivered and confirmed by read-back
(``acknowledged``) or ``failed`` with an alarm and an audit row, and a link loss that marks the
DER comm-lost and offline until it answers again."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.audit import AuditFilter
from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.models import Base
from gridderms.service import alarms, audit_log, commands, feeder_models, feeders, telemetry
from gridderms.service import ders as der_service
from gridderms.service.principals import SYSTEM
from scada_bridge.der_master import COMM_LOST_ALARM, DerMaster, Endpoint
from tests.dnp3_devices import device_server

FEEDER = "bridge"
NAMEPLATE_MW = 0.5
#: what each device reports: P [MW] differs per device so the stored rows can be told apart
REPORTS = {
    "sgen-0": {"p_w": 0.30, "q_var": 0.0, "nameplate_p_w": NAMEPLATE_MW, "v_a_v": 0.2448,
               "reference_voltage_v": 0.24, "p_limit_generation_percent": 100.0},
    "sgen-1": {"p_w": 0.20, "nameplate_p_w": NAMEPLATE_MW},
    "sgen-2": {"p_w": 0.10, "nameplate_p_w": NAMEPLATE_MW},
}  # fmt: skip
#: resolution of P over the map's 1 W multiplier [MW]
P_RESOLUTION_MW = 1e-6


@pytest.fixture
def sessions(tmp_path: Path, cache_dir: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    Base.metadata.create_all(engine)
    factory = session_factory(engine)
    with factory() as session:
        feeders.load_builtin(
            session, feeder_models.FeederModels(cache_dir), SYSTEM, "cigre-mv-der", FEEDER
        )
    try:
        yield factory
    finally:
        engine.dispose()


def _status(sessions: sessionmaker[Session], der_id: str) -> str:
    with sessions() as session:
        return str(der_service.get(session, FEEDER, der_id).status)


def _active(sessions: sessionmaker[Session], kind: str) -> dict[str | None, str]:
    with sessions() as session:
        rows = alarms.list_alarms(session, FEEDER, active_only=True, kind=kind)
        return {row.der_id: row.message for row, _ in rows}


def test_polls_commands_and_link_loss(sessions: sessionmaker[Session]) -> None:
    async def scenario() -> None:
        servers = {}
        devices = {}
        for der_id, values in REPORTS.items():
            server, device = device_server(values, refusing=der_id == "sgen-1")
            await server.start()
            servers[der_id], devices[der_id] = server, device
        endpoints = [Endpoint(d, "127.0.0.1", s.port) for d, s in servers.items()]
        master = DerMaster(sessions, FEEDER, endpoints, response_timeout_s=1.0, retries=1)
        try:
            # 1. a poll stores one measurement per device, in MW and pu
            report = await master.poll()
            assert (report.stored, sorted(report.answered), report.comm_lost) == (
                3, sorted(REPORTS), {}
            )  # fmt: skip
            with sessions() as session:
                rows = {r.der_id: r for r in telemetry.latest(session, FEEDER, None, 10)}
            for der_id, values in REPORTS.items():
                assert rows[der_id].p_mw == pytest.approx(values["p_w"], abs=P_RESOLUTION_MW)
            assert rows["sgen-0"].vm_pu == pytest.approx(1.02, abs=1e-3)
            assert rows["sgen-0"].quality == "good"

            # 2. set-points: one device takes it, one refuses
            with sessions() as session:
                commands.queue_setpoint(session, 1, "sgen-0", (0.25, 0.0), "operator")
                commands.queue_setpoint(session, 1, "sgen-1", (0.1, 0.0), "operator")
                session.commit()
            delivered = await master.deliver()
            assert len(delivered.acknowledged) == 1 and len(delivered.failed) == 1
            assert devices["sgen-0"].operated == ["AO88=500", "BO17=on"]  # 50.0 % in 0.1 %
            assert devices["sgen-1"].operated == []
            with sessions() as session:
                by_der = {c.der_id: c for c in commands.list_commands(session, FEEDER)}
                trail = audit_log.page(session, AuditFilter(), limit=50, newest_first=True)
            assert by_der["sgen-0"].status == "acknowledged"
            assert by_der["sgen-0"].acknowledged_at is not None
            assert by_der["sgen-1"].status == "failed"
            assert "after 2 attempts" in str(by_der["sgen-1"].error)
            assert "sgen-1" in _active(sessions, commands.COMMAND_FAILED_ALARM)
            actions = {(row.action, row.target_id) for row in trail}
            assert ("command.failed", str(by_der["sgen-1"].id)) in actions
            assert ("command.acknowledged", str(by_der["sgen-0"].id)) in actions
            # nothing pending is left to send
            again = await master.deliver()
            assert (again.acknowledged, again.failed) == ([], {})

            # 3. a link loss: comm-lost within one poll, alarmed, offline; then restored
            await servers["sgen-2"].drop_link()
            lost = await master.poll()
            assert list(lost.comm_lost) == ["sgen-2"] and lost.stored == 2
            assert "no answer over DNP3" in _active(sessions, COMM_LOST_ALARM)["sgen-2"]
            assert _status(sessions, "sgen-2") == "offline"
            servers["sgen-2"].restore_link()
            back = await master.poll()
            assert back.comm_lost == {} and back.stored == 3
            assert _active(sessions, COMM_LOST_ALARM) == {}
            assert _status(sessions, "sgen-2") == "available"
        finally:
            await master.close()
            for server in servers.values():
                await server.stop()

    asyncio.run(scenario())


def _garbage_answers(seed: int) -> list[bytes]:
    """What a broken device might send back: noise, a frame cut short, a valid-looking
    start with a wrong CRC, an oversized run of frames."""
    rng = random.Random(seed)
    start = b"\x05\x64"
    return [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))),
        start + bytes([0x0A, 0x44, 0x01, 0x00, 0x0A, 0x00]),  # header without its CRC
        start + bytes(rng.randrange(256) for _ in range(8)) + b"\xff" * 300,
        (start + bytes([0xFF, 0x44, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x00])) * 500,
        b"",  # closes at once
    ]


def test_garbage_from_devices_never_crashes_the_master(sessions: sessionmaker[Session]) -> None:
    async def scenario() -> dict[str, str]:
        answers = _garbage_answers(1815)

        async def broken_device(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            index = int(writer.get_extra_info("sockname")[1]) % len(answers)
            with contextlib.suppress(Exception):
                await reader.read(292)
                writer.write(answers[index])
                await writer.drain()
                await asyncio.sleep(0.2)
            writer.close()

        servers = [await asyncio.start_server(broken_device, "127.0.0.1", 0) for _ in answers]
        endpoints = [
            Endpoint(f"sgen-{i}", "127.0.0.1", s.sockets[0].getsockname()[1])
            for i, s in enumerate(servers)
        ]
        master = DerMaster(sessions, FEEDER, endpoints, response_timeout_s=0.5)
        try:
            first = await master.poll()
            second = await master.poll()  # reconnects and fails the same way, no crash
            assert second.comm_lost.keys() == first.comm_lost.keys()
            return first.comm_lost
        finally:
            await master.close()
            for server in servers:
                server.close()

    lost = asyncio.run(scenario())
    assert sorted(lost) == [f"sgen-{i}" for i in range(5)]  # all comm-lost, each with why
    assert all(why for why in lost.values())
    assert set(_active(sessions, COMM_LOST_ALARM)) == set(lost)
