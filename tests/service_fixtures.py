"""Helpers for the service tests: a throwaway PostgreSQL server, fresh databases on SQLite and
PostgreSQL, and the API served by uvicorn in a subprocess on a free loopback port.

Nothing is skipped: without the PostgreSQL binaries the PostgreSQL tests fail and say to run
``scripts/setup.sh``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridderms.persistence.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
BACKENDS = ("sqlite", "postgresql")

_postgres: dict[str, str] = {}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_server_url() -> str:
    """URL of the session's PostgreSQL 15 server (started on first use, stopped at exit)."""
    if "url" in _postgres:
        return _postgres["url"]
    if not (PG_BIN / "initdb").exists():
        pytest.fail(
            f"PostgreSQL 15 binaries not found in {PG_BIN}: run scripts/setup.sh (it installs "
            f"the Debian package postgresql) - the service tests need a real PostgreSQL server",
            pytrace=False,
        )
    directory = tempfile.mkdtemp(prefix="gridderms-pg-")
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "postgres.sh"), "start", directory],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        log = Path(directory, "server.log")
        pytest.fail(
            f"scripts/postgres.sh start failed ({done.returncode}): {done.stderr}"
            f"{log.read_text() if log.exists() else ''}",
            pytrace=False,
        )

    def stop() -> None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "postgres.sh"), "stop", directory],
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(stop)
    _postgres["url"] = done.stdout.strip().splitlines()[-1]
    return _postgres["url"]


def fresh_database(backend: str, tmp_dir: Path) -> str:
    """URL of a new, empty database on ``backend`` (``sqlite`` or ``postgresql``)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'gridderms-{uuid.uuid4().hex[:8]}.db'}"
    import psycopg

    server = postgres_server_url()
    name = f"test_{uuid.uuid4().hex[:12]}"
    dsn = server.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    with psycopg.connect(f"{dsn}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class ApiServer:
    """A running service: base URL, database URL, one API key per role, its log file."""

    base: str
    database_url: str
    keys: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]

    def client(self, role: str | None = "admin") -> httpx.Client:
        """An HTTP client sending the key of ``role`` (none for ``None``)."""
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.Client(base_url=self.base + "/api/v1", headers=headers, timeout=120)

    def load_feeder(
        self, name: str, builtin: str = "cigre-mv-der", mode: str | None = None
    ) -> dict[str, Any]:
        """Load the built-in feeder ``builtin`` as ``name`` (then set its operating ``mode``);
        return the feeder as ``POST /feeders`` answered."""
        with self.client("admin") as admin:
            response = admin.post("/feeders", json={"builtin": builtin, "name": name})
            assert response.status_code == 201, response.text
            if mode is not None:
                changed = admin.put(f"/feeders/{name}/mode", json={"operating_mode": mode})
                assert changed.status_code == 200, changed.text
        loaded: dict[str, Any] = response.json()
        return loaded


def create_keys(database_url: str) -> dict[str, str]:
    """One API key per role, created directly in the database."""
    from gridderms.persistence.database import make_engine, session_factory
    from gridderms.service.auth import create_key
    from gridderms.service.principals import ROLES, SYSTEM

    engine = make_engine(database_url)
    keys = {}
    try:
        with session_factory(engine)() as session:
            for role in ROLES:
                _, keys[role] = create_key(session, SYSTEM, f"test-{role}", role)
    finally:
        engine.dispose()
    return keys


@contextmanager
def api_server(
    database_url: str, log: Path, quiet: bool = False, **env: str
) -> Iterator[ApiServer]:
    """Serve the API with uvicorn on a free 127.0.0.1 port until the block ends (``quiet``:
    without the access log and below warnings, as a benchmark runs it)."""
    port = free_port()
    environment = {
        **os.environ,
        "GRIDDERMS_DATABASE_URL": database_url,
        "GRIDDERMS_CACHE_DIR": str(REPO / ".cache" / "feeders"),
        **env,
    }
    keys = create_keys(database_url)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(("--no-access-log", "--log-level", "warning") if quiet else ()),
            ],
            cwd=REPO,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the API server exited at start:\n{log.read_text()}", pytrace=False)
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the API server did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.1)
        yield ApiServer(base, database_url, keys, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def served(
    tmp_path_factory: pytest.TempPathFactory, backend: str, name: str, **env: str
) -> Iterator[ApiServer]:
    """The API on a fresh, migrated database of ``backend`` (files in a new temporary
    directory ``name``) until the block ends."""
    directory = tmp_path_factory.mktemp(name)
    url = fresh_database(backend, directory)
    upgrade(url)
    with api_server(url, directory / "server.log", **env) as server:
        yield server


@contextmanager
def servers_per_backend(
    tmp_path_factory: pytest.TempPathFactory, prefix: str = "", **env: str
) -> Iterator[dict[str, ApiServer]]:
    """The API served on each backend (one migrated database each), stopped at the end."""
    with ExitStack() as stack:
        yield {
            backend: stack.enter_context(served(tmp_path_factory, backend, prefix + backend, **env))
            for backend in BACKENDS
        }


def commands(client: httpx.Client, name: str, **params: Any) -> list[dict[str, Any]]:
    """The commands of feeder ``name`` (up to 1,000 unless ``limit`` says otherwise)."""
    response = client.get(f"/feeders/{name}/commands", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def wait_for_status(
    client: httpx.Client, path: str, statuses: tuple[str, ...], within_s: float
) -> dict[str, Any]:
    """Poll the job at ``path`` until its status is one of ``statuses`` (fail after
    ``within_s`` [s]); return it."""
    deadline = time.monotonic() + within_s
    while (run := client.get(path).json())["status"] not in statuses:
        assert time.monotonic() < deadline, (statuses, run)
        time.sleep(0.05)
    return dict(run)


def assert_cancel_refusals(
    client: httpx.Client, jobs: str, label: str, done: str, status: str, cancelled: str
) -> None:
    """Job ``done`` of the collection ``jobs`` (``dispatch-runs``, ``hosting-capacity``), over
    with ``status``, cannot be cancelled (409 naming the status), nor ``cancelled`` again (409),
    nor an unknown job (404 naming the ``label``)."""
    finished = client.post(f"/{jobs}/{done}/cancel")
    assert finished.status_code == 409
    assert finished.json()["detail"] == (
        f"{label} '{done}' is {status}; only a queued or running job can be cancelled"
    )
    again = client.post(f"/{jobs}/{cancelled}/cancel")
    assert again.status_code == 409 and "is cancelled" in again.json()["detail"]
    unknown = client.post(f"/{jobs}/no-such-run/cancel")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": f"{label} 'no-such-run' not found"}
