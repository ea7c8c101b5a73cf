"""Shared fixtures: a persistent cache of built-in feeders and quiet libraries."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO / ".cache" / "feeders"
os.environ.setdefault("GRIDDERMS_CACHE_DIR", str(CACHE_DIR))
logging.getLogger("pandapower").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """Cache of built-in feeders shared by all tests (and by repeated runs)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return CACHE_DIR
