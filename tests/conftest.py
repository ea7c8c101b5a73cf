"""Shared fixtures: a persistent cache of built-in feeders, quiet libraries, and the API served
on each backend for the service tests (:mod:`service_fixtures`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_fixtures import BACKENDS, ApiServer, servers_per_backend

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO / ".cache" / "feeders"
os.environ.setdefault("GRIDDERMS_CACHE_DIR", str(CACHE_DIR))
logging.getLogger("pandapower").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """Cache of built-in feeders shared by all tests (and by repeated runs)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return CACHE_DIR


@pytest.fixture(scope="module")
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ApiServer]]:
    """The API served on each backend (one migrated database each) for the test module."""
    prefix = request.module.__name__.removeprefix("test_")
    with servers_per_backend(tmp_path_factory, f"{prefix}-") as running:
        yield running


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, servers: dict[str, ApiServer]) -> ApiServer:
    """The API on one backend."""
    return servers[request.param]
