"""Two service processes on one PostgreSQL database, racing.

Both processes (uvicorn, as deployed behind a load balancer) serve the same database; several
threads per process send the same request at the same instant (a barrier), round after round:

* approving (or rejecting) the same pending schedule: exactly one decision wins (200), every
  other is 409; exactly one schedule is active and its commands are queued once;
* switching the same switch with the same ``expected_version``: exactly one switching wins,
  the version goes up by exactly one per win, the history has no gap or repeat, and the
  database row and the in-memory model of *each* process agree afterwards (topology read
  from both);
* a key revoked through one process is refused by the other within its cache time.

The race MODEL_RACE names (found by these tests, fixed): a topology read (or a dispatch
snapshot) in the process that is switching, landing while the switching commits, left that
process's in-memory model in the old switch state under the new version. The switching now
stamps the new version only on the model it changed, and drops a model rebuilt meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import service_fixtures
from payloads import FEASIBLE
from service_fixtures import ApiServer, api_server, commands, fresh_database
from sqlalchemy import select

from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.migrate import upgrade
from gridderms.persistence.models import FeederRow, ScheduleRow

PREFIX = "/api/v1"
#: GRIDDERMS_AUTH_CACHE_S of both processes [s]
AUTH_CACHE_S = 2.0
#: scheduling slack when timing a revocation [s]
SLACK_S = 1.0
#: threads per process sending the same request at once
THREADS_PER_PROCESS = 3
MODEL_RACE = (
    "gridderms/service/feeder_topology.py operate_switch: a read between the switching and its "
    "commit rebuilds the model from the old row; the new version must not be stamped on that model"
)
#: the tie switch S1 of CIGRE MV (open as loaded): closing it meshes feeders 1 and 2
TIE = 4


@dataclass
class Pair:
    """Two service processes on one database."""

    a: ApiServer
    b: ApiServer
    database_url: str

    @property
    def servers(self) -> tuple[ApiServer, ApiServer]:
        return (self.a, self.b)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two processes on one fresh PostgreSQL database, started at once, sharing the keys."""
    directory = tmp_path_factory.mktemp("race")
    url = fresh_database("postgresql", directory)
    upgrade(url)
    lock = threading.Lock()
    created: dict[str, dict[str, str]] = {}
    create_keys = service_fixtures.create_keys

    def keys_once(database_url: str) -> dict[str, str]:
        with lock:
            if database_url not in created:
                created[database_url] = create_keys(database_url)
            return created[database_url]

    servers: dict[str, ApiServer] = {}
    with pytest.MonkeyPatch.context() as patch, ExitStack() as stack:
        patch.setattr(service_fixtures, "create_keys", keys_once)

        def start(name: str) -> None:
            context = api_server(
                url, directory / f"server-{name}.log", GRIDDERMS_AUTH_CACHE_S=str(AUTH_CACHE_S)
            )
            servers[name] = stack.enter_context(context)

        threads = [threading.Thread(target=start, args=(name,)) for name in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(servers) == {"a", "b"}, "a service process did not start (see its log)"
        assert servers["a"].base != servers["b"].base
        yield Pair(servers["a"], servers["b"], url)


def _at_once(
    pair: Pair, role: str, send: Callable[[httpx.Client, int], httpx.Response]
) -> list[httpx.Response]:
    """``send`` from THREADS_PER_PROCESS threads on each process, released together."""
    clients = [s.client(role) for s in pair.servers for _ in range(THREADS_PER_PROCESS)]
    barrier = threading.Barrier(len(clients))
    responses: list[httpx.Response | BaseException] = [RuntimeError("not sent")] * len(clients)

    def run(i: int) -> None:
        try:
            clients[i].get("/feeders")  # connected and authenticated before the barrier
            barrier.wait(timeout=60)
            responses[i] = send(clients[i], i)
        except BaseException as exc:  # reported below
            responses[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    failures = [r for r in responses if isinstance(r, BaseException)]
    assert not failures, failures
    return [r for r in responses if isinstance(r, httpx.Response)]


def _statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def _db_feeder(pair: Pair, name: str) -> tuple[int, dict[str, bool], list[tuple[int, str]]]:
    """The feeder's stored version, switch states and schedules (id, state)."""
    engine = make_engine(pair.database_url)
    try:
        with session_factory(engine)() as session:
            row = session.scalars(select(FeederRow).where(FeederRow.name == name)).one()
            schedules = session.execute(
                select(ScheduleRow.id, ScheduleRow.state)
                .where(ScheduleRow.feeder_id == row.id)
                .order_by(ScheduleRow.id)
            ).all()
            return row.version, dict(row.switch_closed), [(s.id, s.state) for s in schedules]
    finally:
        engine.dispose()


def _load(pair: Pair, name: str) -> None:
    assert pair.a.load_feeder(name)["operating_mode"] == "manual"


def _pending_schedule(server: ApiServer, name: str) -> int:
    with server.client("adms") as adms:
        run = adms.post(f"/feeders/{name}/dispatch-runs", json=FEASIBLE)
        assert run.status_code == 201, run.text
        assert run.json()["status"] == "optimal", run.text
        schedule = adms.get(f"/dispatch-runs/{run.json()['run_id']}/schedule").json()
        assert schedule["state"] == "pending_approval"
        return int(schedule["schedule_id"])


def _commands(server: ApiServer, name: str, **params: Any) -> list[dict[str, Any]]:
    with server.client("viewer") as viewer:
        return commands(viewer, name, limit=10_000, **params)


# -- schedule activation ------------------------------------------------------------------------
def test_racing_approvals_activate_a_schedule_once(pair: Pair) -> None:
    name = "race-approve"
    _load(pair, name)
    active: int | None = None
    decided: list[tuple[int, str]] = []
    for round_ in range(4):
        schedule_id = _pending_schedule(pair.servers[round_ % 2], name)
        # rounds 0 and 2: everyone approves; 1 and 3: half approve, half reject
        mixed = round_ % 2 == 1

        def decide(client: httpx.Client, i: int, sid: int = schedule_id, mixed: bool = mixed):
            verb = "reject" if mixed and i % 2 else "approve"
            return client.post(f"/feeders/{name}/schedules/{sid}/{verb}")

        responses = _at_once(pair, "operator", decide)
        assert _statuses(responses) == {200: 1, 409: len(responses) - 1}, [
            (r.status_code, r.text[:120]) for r in responses
        ]
        (winner,) = [r.json() for r in responses if r.status_code == 200]
        assert winner["schedule_id"] == schedule_id
        for loser in (r for r in responses if r.status_code == 409):
            assert f"schedule {schedule_id} is {winner['state']}" in loser.json()["detail"]
        decided.append((schedule_id, winner["state"]))
        if winner["state"] == "active":
            active = schedule_id

        # one consistent state, seen alike by the database and both processes
        _, _, schedules = _db_feeder(pair, name)
        assert [sid for sid, state in schedules if state == "active"] == (
            [active] if active else []
        )
        assert [sid for sid, state in schedules if state == "pending_approval"] == []
        for server in pair.servers:
            with server.client("viewer") as viewer:
                current = viewer.get(f"/feeders/{name}/schedules/active")
                if active is None:
                    assert current.status_code == 404
                else:
                    assert current.json()["schedule_id"] == active
        # the active schedule's commands queued once, none left of a superseded one
        pending = _commands(pair.a, name, kind="schedule", status="pending")
        assert {c["schedule_id"] for c in pending} == ({active} if active else set())
        per_der = Counter(c["der_id"] for c in pending)
        assert all(n == 1 for n in per_der.values()), per_der
        if active is not None:
            every = _commands(pair.b, name, kind="schedule")
            mine = [c for c in every if c["schedule_id"] == active]
            assert mine and len(mine) == len({c["der_id"] for c in mine})
    assert [state for _, state in decided][::2] == ["active", "active"]
    with pair.b.client("viewer") as viewer:
        audit = viewer.get("/audit", params={"target_type": "schedule", "limit": 100}).json()
    per_schedule = Counter(
        row["target_id"]
        for row in audit
        if row["action"] in ("schedule.approve", "schedule.reject")
    )
    assert per_schedule == {f"{name}/{sid}": 1 for sid, _ in decided}


# -- switching ----------------------------------------------------------------------------------
def _topologies(pair: Pair, name: str) -> list[dict[str, Any]]:
    out = []
    for server in pair.servers:
        with server.client("viewer") as viewer:
            response = viewer.get(f"/feeders/{name}/topology")
            assert response.status_code == 200, response.text
            out.append(response.json())
    return out


def _assert_consistent(pair: Pair, name: str, version: int) -> None:
    """The database and both processes' models agree on the version and every switch."""
    stored_version, stored, _ = _db_feeder(pair, name)
    assert stored_version == version
    for topology in _topologies(pair, name):
        assert topology["version"] == version
        assert {str(s["switch_id"]): s["closed"] for s in topology["switches"]} == stored
        assert topology["meshes"] == (1 if stored[str(TIE)] else 0)
    with pair.b.client("viewer") as viewer:
        history = viewer.get(f"/feeders/{name}/versions").json()
    assert [h["version"] for h in history] == list(range(version + 1))


def test_racing_switching_bumps_the_version_once_per_change(pair: Pair) -> None:
    name = "race-switch"
    _load(pair, name)
    version = 0
    _assert_consistent(pair, name, version)
    for round_ in range(6):
        closed = _db_feeder(pair, name)[1][str(TIE)]
        verb = "open" if closed else "close"
        with_version = round_ % 3 != 2  # every third round without expected_version
        expected = version if with_version else None

        def switch(
            client: httpx.Client, i: int, verb: str = verb, v: int | None = version
        ) -> httpx.Response:
            body = {"expected_version": v} if v is not None else {}
            return client.post(f"/feeders/{name}/switches/{TIE}/{verb}", json=body)

        responses = _at_once(pair, "adms", partial(switch, v=expected))
        changed = [r.json() for r in responses if r.status_code == 200 and r.json()["changed"]]
        assert len(changed) == 1, [(r.status_code, r.text[:120]) for r in responses]
        assert changed[0]["version"] == version + 1
        assert changed[0]["closed"] is (verb == "close")
        others = [r for r in responses if not (r.status_code == 200 and r.json()["changed"])]
        for other in others:
            if with_version or other.status_code != 200:
                assert other.status_code == 409, other.text
            else:  # no expected version: the switch was already where it was sent
                assert other.json() == {**changed[0], "changed": False}
        version += 1
        _assert_consistent(pair, name, version)


def test_switching_raced_by_topology_reads_keeps_each_model_in_step(pair: Pair) -> None:
    """Readers of the topology on both processes while the switching races: afterwards the
    in-memory model of each process must match the database."""
    name = "race-read"
    _load(pair, name)
    stop = threading.Event()
    read_errors: list[str] = []

    def read(server: ApiServer) -> None:
        with server.client("viewer") as viewer:
            while not stop.is_set():
                response = viewer.get(f"/feeders/{name}/topology")
                if response.status_code != 200:
                    read_errors.append(response.text[:200])

    readers = [
        threading.Thread(target=read, args=(server,)) for server in pair.servers for _ in range(2)
    ]
    for reader in readers:
        reader.start()
    version = 0
    try:
        for _ in range(6):
            closed = _db_feeder(pair, name)[1][str(TIE)]
            verb = "open" if closed else "close"

            def switch(client: httpx.Client, i: int, verb: str = verb, v: int = version):
                return client.post(
                    f"/feeders/{name}/switches/{TIE}/{verb}", json={"expected_version": v}
                )

            responses = _at_once(pair, "adms", switch)
            assert _statuses(responses) == {200: 1, 409: len(responses) - 1}
            version += 1
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not read_errors, read_errors[:3]
    _assert_consistent(pair, name, version)


def test_a_topology_read_during_a_switch_commit_keeps_the_model_in_step(
    pair: Pair, cache_dir: Path
) -> None:
    """Deterministic form of the race above, in one process: a topology read lands while the
    switching transaction commits (injected into ``session.commit``)."""
    from gridderms.service import feeder_topology
    from gridderms.service import feeders as service
    from gridderms.service.feeder_models import FeederModels
    from gridderms.service.principals import SYSTEM

    name = "race-inline"
    engine = make_engine(pair.database_url)
    sessions = session_factory(engine)
    models = FeederModels(cache_dir)
    try:
        with sessions() as session:
            service.load_builtin(session, models, SYSTEM, "cigre-mv-der", name)
        with sessions() as session:
            row = feeder_by_name(session, name)
            # the model cached at version 0
            assert _topology(models, row)["version"] == 0
        with sessions() as writer:
            commit = writer.commit

            def read_then_commit() -> None:
                with sessions() as reader:  # sees the committed version 0
                    _topology(models, feeder_by_name(reader, name))
                commit()

            writer.commit = read_then_commit  # type: ignore[method-assign]
            feeder_topology.operate_switch(
                writer, models, SYSTEM, name, TIE, closed=True, expected_version=0
            )
        with sessions() as session:
            row = feeder_by_name(session, name)
            topology = _topology(models, row)
        assert row.version == 1 and row.switch_closed[str(TIE)] is True
        tie = next(s for s in topology["switches"] if s["switch_id"] == TIE)
        assert (topology["version"], tie["closed"]) == (1, True), MODEL_RACE
    finally:
        engine.dispose()


def _topology(models: Any, row: Any) -> dict[str, Any]:
    """The API's topology view of ``row``'s model, read under the feeder's lock."""
    from api.schemas.feeders import TopologyPublic
    from gridderms.service import feeder_topology

    return feeder_topology.read_model(models, row, TopologyPublic.of).model_dump()


# -- keys -----------------------------------------------------------------------------------------
@pytest.mark.serial
def test_a_key_revoked_through_one_process_is_refused_by_the_other_in_time(pair: Pair) -> None:
    with pair.a.client("admin") as admin:
        key = admin.post("/keys", json={"name": "race-ttl", "role": "viewer"}).json()["key"]
    a = httpx.Client(base_url=pair.a.base + PREFIX, headers={"X-API-Key": key})
    b = httpx.Client(base_url=pair.b.base + PREFIX, headers={"X-API-Key": key})
    with a, b, pair.a.client("admin") as admin:
        assert a.get("/feeders").status_code == 200
        assert b.get("/feeders").status_code == 200  # B trusts the key from now on
        assert admin.delete("/keys/race-ttl").status_code == 200
        revoked_at = time.monotonic()
        assert a.get("/feeders").status_code == 401  # at once where it was revoked
        accepted: list[float] = []
        while (status_code := b.get("/feeders").status_code) != 401:
            assert status_code == 200
            accepted.append(time.monotonic() - revoked_at)
            assert accepted[-1] <= AUTH_CACHE_S + SLACK_S, "revoked key outlived the cache"
            time.sleep(0.05)
        assert accepted and accepted[0] < AUTH_CACHE_S  # not immediate in the other process
        assert a.get("/feeders").status_code == b.get("/feeders").status_code == 401


def test_the_two_processes_are_distinct(pair: Pair) -> None:
    assert pair.a.process.pid != pair.b.process.pid
    assert pair.a.database_url == pair.b.database_url == pair.database_url
