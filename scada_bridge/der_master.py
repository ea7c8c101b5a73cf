"""gridderms as the DNP3 master of a feeder's DER devices: polls them into the telemetry
service, marks the silent ones comm-lost, and delivers the pending commands.

- :meth:`DerMaster.poll` integrity-polls every endpoint at once (one TCP connection per
  device, kept open between polls and reopened after a failure) and stores one measurement per
  device through :func:`gridderms.service.telemetry.ingest` as principal
  :data:`BRIDGE` (role ``adms``).
- A device that does not answer within ``response_timeout_s`` is comm-lost: the
  ``der_comm_lost`` alarm is raised and the DER is declared ``offline`` (dispatch then holds
  it fixed and its pending commands are cancelled); its first answer again clears the alarm
  and declares it ``available``. A DER an operator locked out stays locked out.
- :meth:`DerMaster.deliver` sends each DER's pending commands: an operator ``setpoint`` as the
  power limit ``p_mw`` over the device's nameplate P [% of WMax]; a ``setpoint_release`` as a
  100 % limit; a ``schedule`` as the set-point of the period that has started. Each is
  confirmed by read-back (:func:`scada_bridge.der_link.write_power_limit`), retried up to
  ``retries`` times, and recorded ``acknowledged`` or ``failed`` with the device's answer
  (:func:`gridderms.service.commands.record_delivery`: alarm and audit row on failure).
  A schedule whose first period has not started stays ``pending``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dnp3.master.config import MasterConfig
from dnp3.master.handler import DefaultSOEHandler
from dnp3.master.master import Master
from dnp3.master.tcp_runner import MasterTcpRunner
from dnp3.transport_io.tcp_client import TcpClientChannel, TcpConfig
from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.models import CommandRow, utcnow
from gridderms.service import commands, ders, telemetry
from gridderms.service.alarms import Condition, sync_conditions
from gridderms.service.errors import ConflictError
from gridderms.service.feeders import get as feeder_row
from gridderms.service.principals import Principal
from scada_bridge.der_link import measurement, write_power_limit
from scada_bridge.device_points import readings
from scada_bridge.endpoints import Endpoint
from scada_bridge.point_map import PointMap, shipped_map

logger = logging.getLogger(__name__)

#: the bridge acts as the ADMS-side integration it is
BRIDGE = Principal("scada-bridge", "adms")
#: alarm kind of a DER whose device stopped answering
COMM_LOST_ALARM = "der_comm_lost"


@dataclass
class _Link:
    endpoint: Endpoint
    points: PointMap
    handler: DefaultSOEHandler = field(default_factory=DefaultSOEHandler)
    master: Master | None = None
    runner: MasterTcpRunner | None = None
    comm_lost: bool = False
    error: str = ""
    nameplate_mw: float | None = None


@dataclass(frozen=True)
class PollReport:
    """One poll of every endpoint: measurements ``stored``, DERs ``answered`` and
    ``comm_lost`` (with why)."""

    stored: int
    answered: list[str]
    comm_lost: dict[str, str]


@dataclass(frozen=True)
class DeliveryReport:
    """Commands ``acknowledged`` and ``failed`` (``der_id -> answer``) and ``waiting``
    (schedules whose first period has not started)."""

    acknowledged: list[int]
    failed: dict[int, str]
    waiting: list[int]


class DerMaster:
    """The DNP3 master of feeder ``feeder``'s DER devices at ``endpoints``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        feeder: str,
        endpoints: Sequence[Endpoint],
        *,
        response_timeout_s: float = 2.0,
        retries: int = 2,
    ) -> None:
        self.sessions = sessions
        self.feeder = feeder
        self.response_timeout_s = response_timeout_s
        self.retries = retries
        self.links = {e.der_id: _Link(e, shipped_map(e.point_map)) for e in endpoints}

    async def close(self) -> None:
        """Close every device connection."""
        for link in self.links.values():
            await self._drop(link)

    async def _drop(self, link: _Link) -> None:
        runner, link.runner, link.master = link.runner, None, None
        if runner is not None:
            try:
                await runner.close()
            except Exception:  # closing a broken link: nothing more to learn
                logger.debug("closing the link to %s failed", link.endpoint.der_id)
            if runner.channel is not None and runner.channel.is_open:
                await runner.channel.close()

    async def _runner(self, link: _Link) -> tuple[MasterTcpRunner, Master]:
        if link.runner is not None and link.master is not None and link.runner.is_open:
            return link.runner, link.master
        e = link.endpoint
        link.master = Master(
            config=MasterConfig(
                address=e.master_address,
                outstation_address=e.outstation_address,
                response_timeout=self.response_timeout_s,
            ),
            handler=link.handler,
        )
        channel = TcpClientChannel(
            config=TcpConfig(host=e.host, port=e.port, connect_timeout=self.response_timeout_s)
        )
        link.runner = MasterTcpRunner(master=link.master, channel=channel)
        await asyncio.wait_for(link.runner.open(), self.response_timeout_s)
        return link.runner, link.master

    async def _poll_one(self, link: _Link) -> dict[str, object] | None:
        try:
            runner, _ = await self._runner(link)
            link.handler.clear()
            await asyncio.wait_for(runner.integrity_poll(), self.response_timeout_s)
        except Exception as exc:
            link.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await self._drop(link)
            return None
        got = readings(link.points, link.handler)
        nameplate = got.get("nameplate_p_w") or got.get("max_p_w")
        if nameplate is not None and nameplate.online and float(nameplate.value) > 0:
            link.nameplate_mw = float(nameplate.value)
        return measurement(got, link.endpoint.der_id, utcnow())

    async def poll(self) -> PollReport:
        """Integrity-poll every device; store what they report; follow comm loss."""
        links = list(self.links.values())
        results = await asyncio.gather(*(self._poll_one(link) for link in links))
        measured = [m for m in results if m is not None]
        polled = zip(links, results, strict=True)
        lost = {link.endpoint.der_id: link.error for link, m in polled if m is None}
        with self.sessions() as session:
            stored = telemetry.ingest(session, BRIDGE, self.feeder, measured).stored
        self._follow_comm_loss(lost)
        answered = [str(m["der_id"]) for m in measured]
        return PollReport(stored, answered, lost)

    def _follow_comm_loss(self, lost: dict[str, str]) -> None:
        changed = [
            link for link in self.links.values() if link.comm_lost != (link.endpoint.der_id in lost)
        ]
        with self.sessions() as session:
            feeder = feeder_row(session, self.feeder)
            present: dict[str | None, Condition] = {
                der_id: Condition(
                    "major",
                    f"DER '{der_id}': no answer over DNP3 from "
                    f"{self.links[der_id].endpoint.host}:{self.links[der_id].endpoint.port} "
                    f"({why}); held offline",
                    {"error": why},
                )
                for der_id, why in lost.items()
            }
            sync_conditions(session, feeder.id, COMM_LOST_ALARM, present, scope=list(self.links))
            session.commit()
        for link in changed:
            link.comm_lost = link.endpoint.der_id in lost
            status = "offline" if link.comm_lost else "available"
            with self.sessions() as session:
                try:
                    ders.set_availability(
                        session, BRIDGE, self.feeder, link.endpoint.der_id, status, {}
                    )
                except ConflictError:  # locked out by an operator: that stands
                    session.rollback()

    def _limit_percent(self, link: _Link, command: CommandRow, now: datetime) -> float | None:
        """The power limit [% of WMax] a command asks for now; None: not due yet."""
        if command.kind == "setpoint_release":
            return 100.0
        if command.kind == "setpoint":
            p_mw = float(command.payload["p_mw"])
        else:
            start = datetime.fromisoformat(command.payload["start"])
            period = math.floor((now - start) / timedelta(minutes=command.payload["step_minutes"]))
            values = command.payload["p_mw"]
            if period < 0:
                return None
            p_mw = float(values[min(period, len(values) - 1)])
        if link.nameplate_mw is None:
            raise ValueError(f"DER '{link.endpoint.der_id}' has not reported its nameplate P")
        return min(100.0, max(0.0, 100.0 * p_mw / link.nameplate_mw))

    async def _deliver_one(self, link: _Link, command: CommandRow) -> tuple[bool, str] | None:
        try:
            percent = self._limit_percent(link, command, utcnow())
        except (ValueError, KeyError, TypeError) as exc:
            return False, str(exc)
        if percent is None:
            return None
        answer = "not sent"
        for _ in range(1 + self.retries):
            try:
                runner, master = await self._runner(link)
                confirmation = await asyncio.wait_for(
                    write_power_limit(runner, master, link.handler, link.points, percent),
                    4 * self.response_timeout_s,
                )
            except Exception as exc:
                answer = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                await self._drop(link)
                continue
            if confirmation.acknowledged:
                return True, confirmation.answer
            answer = confirmation.answer
        return False, f"{answer} (after {1 + self.retries} attempts)"

    async def deliver(self) -> DeliveryReport:
        """Send every pending command of the DERs that answer; record each outcome."""
        reachable = [d for d, link in self.links.items() if not link.comm_lost]
        with self.sessions() as session:
            pending = commands.deliverable(session, self.feeder, reachable)
            session.expunge_all()
        newest: dict[tuple[str, str], CommandRow] = {}
        for command in pending:  # oldest first: the newest of a kind per DER is sent
            assert command.der_id is not None
            kind = "override" if command.kind.startswith("setpoint") else command.kind
            newest[(command.der_id, kind)] = command
        jobs = list(newest.values())
        outcomes = await asyncio.gather(
            *(self._deliver_one(self.links[str(c.der_id)], c) for c in jobs)
        )
        acknowledged: list[int] = []
        failed: dict[int, str] = {}
        waiting: list[int] = []
        for command, outcome in zip(jobs, outcomes, strict=True):
            if outcome is None:
                waiting.append(command.id)
                continue
            ok, answer = outcome
            with self.sessions() as session:
                commands.record_delivery(
                    session,
                    BRIDGE,
                    self.feeder,
                    command.id,
                    "acknowledged" if ok else "failed",
                    answer,
                )
            if ok:
                acknowledged.append(command.id)
            else:
                failed[command.id] = answer
        return DeliveryReport(acknowledged, failed, waiting)


__all__ = ["BRIDGE", "COMM_LOST_ALARM", "DeliveryReport", "DerMaster", "Endpoint", "PollReport"]
