"""The audit trail over real HTTP (uvicorn), on SQLite and PostgreSQL: refused requests are
audited and aggregated (a burst makes a few rows with the right count), runs a restart
interrupted are audited, ``GET /audit`` pages through any number of rows with its keyset
cursor and filters by time, an admin exports every row as CSV or NDJSON; API keys in query
strings are refused and kept out of the access log; ``OPTIONS`` and ``405`` answer the
complete ``Allow``. Plus the aggregation window and the log redaction in-process."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_fixtures import BACKENDS, ApiServer, api_server, fresh_database, servers_per_backend

from gridderms.persistence.audit import add_audit
from gridderms.persistence.database import make_engine, session_factory
from gridderms.persistence.migrate import upgrade
from gridderms.persistence.models import (
    AuditRow,
    DispatchRunRow,
    FeederRow,
    HostingCapacityRunRow,
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ApiServer]]:
    """The API on each backend, its log written unbuffered (read while it runs)."""
    with servers_per_backend(tmp_path_factory, "audit-", PYTHONUNBUFFERED="1") as running:
        yield running


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, servers: dict[str, ApiServer]) -> ApiServer:
    """The API on one backend."""
    return servers[request.param]


def _audit(server: ApiServer, **params: Any) -> list[dict[str, Any]]:
    with server.client("admin") as admin:
        response = admin.get("/audit", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def _insert_rows(database_url: str, target_type: str, ats: list[datetime]) -> None:
    """Audit rows written straight to the database (as many as a long-running service has)."""
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            for index, at in enumerate(ats):
                row = add_audit(
                    session,
                    actor="test-writer",
                    role="admin",
                    action="test.row",
                    target_type=target_type,
                    target_id=str(index),
                    after={"index": index},
                )
                row.at = at
            session.commit()
    finally:
        engine.dispose()


def _sha12(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


# -- refusals ------------------------------------------------------------------------------------


def test_401_and_422_refusals_are_audited_without_the_key(server: ApiServer) -> None:
    wrong = f"gdm_wrong-{uuid.uuid4().hex}"
    name = f"revoked-{uuid.uuid4().hex[:8]}"
    with server.client("admin") as admin:
        revoked = admin.post("/keys", json={"name": name, "role": "viewer"}).json()["key"]
        assert admin.delete(f"/keys/{name}").status_code == 200
        assert admin.post("/keys", json={"name": "no role"}).status_code == 422
    with server.client(None) as anonymous:
        assert anonymous.get("/alarms").status_code == 401
        assert anonymous.get("/alarms", headers={"X-API-Key": wrong}).status_code == 401
        bearer = anonymous.get("/alarms", headers={"Authorization": f"Bearer {revoked}"})
        assert bearer.status_code == 401

    rows = _audit(server, action="auth.refused", target_id="GET /api/v1/alarms")
    by_reason = {row["after"]["reason"]: row for row in rows}
    assert {"missing API key", "unknown API key", "revoked API key"} <= set(by_reason)
    for row in rows:
        assert row["outcome"] == "refused" and row["target_type"] == "route"
        assert row["after"]["status"] == 401 and row["after"]["route"] == "/api/v1/alarms"
    assert by_reason["missing API key"]["actor"] == "127.0.0.1"
    assert by_reason["unknown API key"]["actor"] == "127.0.0.1"
    assert _sha12(wrong) in by_reason["unknown API key"]["after"]["key_sha256_prefixes"]
    assert by_reason["revoked API key"]["actor"] == name  # the revoked key's name

    invalid = _audit(server, action="request.refused", actor="test-admin")
    keys_422 = [row for row in invalid if row["target_id"] == "POST /api/v1/keys"]
    assert keys_422 and keys_422[0]["after"]["status"] == 422
    assert keys_422[0]["outcome"] == "refused"

    text = json.dumps(_audit(server))
    assert wrong not in text and revoked not in text
    for key in server.keys.values():
        assert key not in text


def test_a_burst_of_bad_requests_makes_a_few_rows_with_the_total_count(
    server: ApiServer,
) -> None:
    feeder = f"burst-{uuid.uuid4().hex[:6]}"
    before = _audit(server, limit=1)[0]["id"]

    with server.client(None) as anonymous, ThreadPoolExecutor(8) as pool:

        def bad(index: int) -> int:
            headers = {"X-API-Key": f"gdm_burst-{index}"} if index % 2 else {}
            return anonymous.get(f"/feeders/{feeder}/ders", headers=headers).status_code

        assert set(pool.map(bad, range(500))) == {401}
    rows = _audit(server, action="auth.refused", target_id="GET /api/v1/feeders/{feeder}/ders")
    rows = [row for row in rows if row["id"] > before]
    assert 2 <= len(rows) <= 4, rows  # missing and unknown key: one window each
    assert sum(row["after"]["count"] for row in rows) == 500
    unknown = [row for row in rows if row["after"]["reason"] == "unknown API key"]
    assert sum(row["after"]["count"] for row in unknown) == 250
    assert all(len(row["after"]["key_sha256_prefixes"]) <= 5 for row in unknown)
    assert rows[0]["after"]["paths"] == [f"/api/v1/feeders/{feeder}/ders"]
    # the whole trail grew by those rows only, not by 500
    assert len([row for row in _audit(server) if row["id"] > before]) <= 6


# -- runs a restart interrupted --------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_runs_failed_by_a_restart_are_audited(backend: str, tmp_path: Path) -> None:
    url = fresh_database(backend, tmp_path)
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            feeder = FeederRow(name="restarted", source="builtin:cigre-mv-der")
            session.add(feeder)
            session.flush()
            runs: dict[str, tuple[type[Any], str]] = {}
            for row_type, status in (
                (DispatchRunRow, "running"),
                (DispatchRunRow, "queued"),
                (DispatchRunRow, "cancelling"),
                (HostingCapacityRunRow, "running"),
            ):
                run_id = str(uuid.uuid4())
                session.add(
                    row_type(
                        run_id=run_id,
                        feeder_id=feeder.id,
                        feeder_version=0,
                        status=status,
                        progress=0.5,
                        request={},
                        requested_by="test-adms",
                    )
                )
                runs[run_id] = (row_type, status)
            session.commit()
    finally:
        engine.dispose()
    with api_server(url, tmp_path / "server.log") as server:
        dispatch = _audit(server, action="dispatch.fail_interrupted")
        studies = _audit(server, action="hosting_capacity.fail_interrupted")
    audited = {row["target_id"]: row for row in dispatch + studies}
    assert set(audited) == set(runs)
    for run_id, (row_type, status) in runs.items():
        row = audited[run_id]
        assert row["actor"] == "system" and row["outcome"] == "ok"
        assert row["target_type"] == (
            "dispatch_run" if row_type is DispatchRunRow else "hosting_capacity_run"
        )
        assert row["before"] == {"status": status}
        expected = "cancelled" if status == "cancelling" else "failed"
        assert row["after"] == {"status": expected, "reason": "interrupted by a service restart"}


# -- reading the trail ---------------------------------------------------------------------------


def _walk(server: ApiServer, params: dict[str, Any], between: Any = None) -> list[int]:
    """Every id of the pages the ``Link`` header leads through."""
    ids: list[int] = []
    with server.client("viewer") as viewer:
        response = viewer.get("/audit", params=params)
        while True:
            assert response.status_code == 200, response.text
            ids += [row["id"] for row in response.json()]
            if between is not None:
                between()
            if "next" not in response.links:
                return ids
            response = viewer.get(server.base + response.links["next"]["url"])


def test_the_cursor_pages_through_more_than_1000_rows_exactly_once(server: ApiServer) -> None:
    target_type = f"paging-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    _insert_rows(server.database_url, target_type, [now] * 2345)
    present = [row["id"] for row in _audit(server, target_type=target_type)]
    assert len(present) == 1000  # one page at most ...

    def add_more() -> None:  # ... and rows keep arriving while a client pages
        _insert_rows(server.database_url, target_type, [now] * 3)

    newest_first = _walk(server, {"target_type": target_type, "limit": 1000}, add_more)
    assert len(newest_first) == len(set(newest_first)) == 2345
    assert newest_first == sorted(newest_first, reverse=True)
    oldest_first = _walk(server, {"target_type": target_type, "limit": 700, "order": "asc"})
    assert oldest_first == sorted(oldest_first)
    assert set(newest_first) <= set(oldest_first)
    assert len(oldest_first) == len(set(oldest_first)) == 2345 + 3 * 3
    # cursor bounds combine with the filters
    middle = oldest_first[100]
    page = _audit(server, target_type=target_type, after_id=middle, limit=5, order="asc")
    assert [row["id"] for row in page] == oldest_first[101:106]
    page = _audit(server, target_type=target_type, before_id=middle, limit=5)
    assert [row["id"] for row in page] == oldest_first[95:100][::-1]
    with server.client("viewer") as viewer:
        assert viewer.get("/audit", params={"limit": 1001}).status_code == 422


def test_since_and_until_filter_by_time(server: ApiServer) -> None:
    target_type = f"time-{uuid.uuid4().hex[:6]}"
    ats = [datetime(2020, 1, 1, hour, tzinfo=UTC) for hour in (0, 1, 2)]
    _insert_rows(server.database_url, target_type, ats)

    def hours(**params: str) -> list[int]:
        rows = _audit(server, target_type=target_type, **params)
        return sorted(datetime.fromisoformat(row["at"]).hour for row in rows)

    assert hours() == [0, 1, 2]
    assert hours(since="2020-01-01T00:30:00Z", until="2020-01-01T02:00:00Z") == [1]
    assert hours(since="2020-01-01T01:00:00Z") == [1, 2]  # since inclusive
    assert hours(until="2020-01-01T01:00:00Z") == [0]  # until exclusive
    assert hours(since="2020-01-01T02:00:00+01:00") == [1, 2]  # 01:00 UTC
    with server.client("viewer") as viewer:
        naive = viewer.get("/audit", params={"since": "2020-01-01T00:00:00"})
        assert naive.status_code == 422


def test_export_csv_and_ndjson_hold_every_row(server: ApiServer) -> None:
    target_type = f"export-{uuid.uuid4().hex[:6]}"
    _insert_rows(server.database_url, target_type, [datetime.now(UTC)] * 1500)
    everything = _walk(server, {"limit": 1000, "order": "asc"})
    with server.client("admin") as admin:
        ndjson = admin.get("/audit/export", params={"format": "ndjson"})
        assert ndjson.status_code == 200, ndjson.text
        assert ndjson.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in ndjson.text.splitlines()]
        assert [row["id"] for row in lines][: len(everything)] == everything
        csv_response = admin.get("/audit/export", params={"format": "csv"})
        assert csv_response.status_code == 200
        assert csv_response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(csv_response.text)))
        assert [int(row["id"]) for row in table][: len(everything)] == everything
        filtered = admin.get(
            "/audit/export", params={"format": "csv", "target_type": target_type}
        ).text
        rows = list(csv.DictReader(io.StringIO(filtered)))
        assert len(rows) == 1500
        assert [json.loads(row["after"])["index"] for row in rows] == list(range(1500))
        assert {row["action"] for row in rows} == {"test.row"}
    with server.client("viewer") as viewer:
        assert viewer.get("/audit/export", params={"format": "csv"}).status_code == 403


# -- keys in query strings, OPTIONS -----------------------------------------------------------


def test_api_keys_in_query_strings_are_refused_and_kept_out_of_the_log(
    server: ApiServer,
) -> None:
    key = server.keys["adms"]
    for name in ("api_key", "key", "token", "access_token", "API_KEY"):
        response = httpx.get(f"{server.base}/api/v1/feeders", params={name: key})
        assert response.status_code == 400, (name, response.text)
        assert "X-API-Key header" in response.json()["detail"]
    # refused even with the right header: the key in the URL is exposed
    with server.client("admin") as admin:
        assert admin.get("/feeders", params={"api_key": key}).status_code == 400
        assert admin.get("/feeders?api%5Fkey=" + key).status_code == 400
        assert admin.get("/feeders", params={"limit": 5}).status_code != 400
    rows = _audit(server, actor="127.0.0.1", target_id="GET /api/v1/feeders")
    refused = [row for row in rows if row["after"]["reason"] == "API key in the query string"]
    assert refused and _sha12(key) in refused[0]["after"]["key_sha256_prefixes"]
    deadline = time.monotonic() + 10
    while "api%5Fkey=[REDACTED]" not in (text := server.log.read_text()):
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.1)
    assert "GET /api/v1/feeders?api_key=[REDACTED]" in text
    assert key not in text


def test_options_and_405_answer_every_method_of_the_path(server: ApiServer) -> None:
    location = f"{server.base}/api/v1/feeders/anywhere/location"
    options = httpx.options(location)
    assert options.status_code in (200, 204), options.text
    allowed = {method.strip() for method in options.headers["allow"].split(",")}
    assert allowed == {"GET", "PUT", "DELETE", "OPTIONS"}
    patch = httpx.patch(location, headers={"X-API-Key": server.keys["admin"]})
    assert patch.status_code == 405
    assert {method.strip() for method in patch.headers["allow"].split(",")} == allowed
    feeders = httpx.options(f"{server.base}/api/v1/feeders")
    assert {m.strip() for m in feeders.headers["allow"].split(",")} == {"GET", "POST", "OPTIONS"}
    assert httpx.options(f"{server.base}/api/v1/nowhere").status_code == 404


# -- in-process: the aggregation window and the redaction ----------------------------------


def test_the_refusal_window_closes_and_counts_are_written(tmp_path: Path) -> None:
    from api.refusal_audit import OVERFLOW_ACTOR, Refusal, RefusalAudit

    url = f"sqlite:///{tmp_path / 'window.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    clock = [0.0]
    audit = RefusalAudit(10.0, max_windows=2, clock=lambda: clock[0])
    audit.bind(sessions)

    def refuse(actor: str = "10.0.0.1", path: str = "/api/v1/ders/a") -> None:
        window = audit.record(
            Refusal(actor, "none", "GET", "/api/v1/ders/{der}", path, 401, "missing API key")
        )
        if window is not None:
            audit.write_first(window)

    def rows() -> list[tuple[str, int, list[str]]]:
        with sessions() as session:
            found = session.query(AuditRow).order_by(AuditRow.id).all()
            return [(r.actor, r.after["count"], r.after["paths"]) for r in found]

    try:
        for index in range(3):
            refuse(path=f"/api/v1/ders/{index}")
        assert rows() == [("10.0.0.1", 1, ["/api/v1/ders/0"])]  # the first is written at once
        assert audit.flush() == 1
        assert rows() == [("10.0.0.1", 3, [f"/api/v1/ders/{i}" for i in range(3)])]
        clock[0] = 10.5  # the window is over: a new row
        refuse()
        refuse()
        refuse("10.0.0.2")
        refuse("10.0.0.3")  # beyond max_windows: aggregated as many callers
        refuse("10.0.0.4")
        audit.flush(close_all=True)
        assert [(actor, count) for actor, count, _ in rows()] == [
            ("10.0.0.1", 3),
            ("10.0.0.1", 2),
            ("10.0.0.2", 1),
            (OVERFLOW_ACTOR, 2),
        ]
        assert audit.open_windows() == 0
    finally:
        engine.dispose()


def test_the_log_redaction_hides_key_like_query_values() -> None:
    from api.query_secrets import redact_query_secrets

    assert redact_query_secrets("GET /a?api_key=gdm_x&b=1 HTTP/1.1") == (
        "GET /a?api_key=[REDACTED]&b=1 HTTP/1.1"
    )
    assert redact_query_secrets("/a?Token=t;x=1&access_token=y") == (
        "/a?Token=[REDACTED];x=1&access_token=[REDACTED]"
    )
    assert redact_query_secrets("/a?api%5Fkey=gdm_x") == "/a?api%5Fkey=[REDACTED]"
    assert redact_query_secrets("/a?keys=1&monkey=2") == "/a?keys=1&monkey=2"
