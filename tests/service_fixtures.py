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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


def create_keys(database_url: str) -> dict[str, str]:
    """One API key per role, created directly in the database."""
    from gridderms.persistence.database import make_engine, session_factory
    from gridderms.service.auth import ROLES, SYSTEM, create_key

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
def api_server(database_url: str, log: Path, **env: str) -> Iterator[ApiServer]:
    """Serve the API with uvicorn on a free 127.0.0.1 port until the block ends."""
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
def servers_per_backend(
    tmp_path_factory: pytest.TempPathFactory, prefix: str = ""
) -> Iterator[dict[str, ApiServer]]:
    """The API served on each backend (one migrated database each), stopped at the end."""
    contexts = {}
    for backend in BACKENDS:
        directory = tmp_path_factory.mktemp(f"{prefix}{backend}")
        url = fresh_database(backend, directory)
        upgrade(url)
        contexts[backend] = api_server(url, directory / "server.log")
    running = {}
    try:
        for backend, context in contexts.items():
            running[backend] = context.__enter__()
        yield running
    finally:
        for backend in running:
            contexts[backend].__exit__(None, None, None)
