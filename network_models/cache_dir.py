"""Where built-in feeders are cached after their first build (no pandapower import, so the
settings that name it load fast)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$GRIDDERMS_CACHE_DIR`` or ``~/.cache/gridderms``."""
    env = os.environ.get("GRIDDERMS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "gridderms"
