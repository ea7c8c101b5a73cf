"""Settings of the dispatch service, from the environment (prefix ``GRIDDERMS_``).

``GRIDDERMS_DATABASE_URL`` selects the database: SQLite under ``GRIDDERMS_DATA_DIR`` by default
(nothing else to install), PostgreSQL with ``postgresql+psycopg://user@host:port/db``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from gridderms.config import Settings


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/gridderms`` or ``~/.local/share/gridderms``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "gridderms"


class ServiceSettings(Settings):
    """Settings of the API service (extends the study settings: voltage band, cache dir).

    Attributes
    ----------
    data_dir : Path
        Where the default SQLite database lives.
    database_url : str
        SQLAlchemy URL; default ``sqlite:///<data_dir>/gridderms.db``.
    inline_dispatch_max_periods : int
        Dispatch requests with up to this many periods (and ``execution="auto"``) are answered
        inline; longer ones run as background jobs (``202 Accepted``).
    dispatch_workers : int
        Background dispatch jobs run at the same time.
    telemetry_max_age_s : float
        Oldest DER measurement [s] before a dispatch horizon's start that dispatch uses as the
        DER's state (battery state of charge, output of a locked-out DER).
    auth_cache_s : float
        How long [s] a process trusts an API key it has checked; a key revoked through
        another process stops working within this time (0: check every request).
    max_dispatch_periods : int
        Most periods of one dispatch request (two days of 1-minute steps, ten days of 5-minute
        steps); more is refused when requested (422, :mod:`gridderms.service.budget`).
    max_dispatch_der_periods : int
        Most registered DERs x periods of one dispatch request (10,000 DERs over 96 periods).
    max_dispatch_memory_mb : float
        Most estimated memory [MB] of one dispatch
        (:func:`gridderms.service.budget.dispatch_memory_mb`); the service holds up to
        ``dispatch_workers`` dispatches and one study at once.
    max_study_memory_mb : float
        Most estimated memory [MB] of one hosting-capacity study
        (:func:`gridderms.service.budget.study_memory_mb`).
    audit_refusal_window_s : float
        Refused requests (401, 403, 400/413/422) of one caller, route and status within this
        window [s] make one audit row with their count (see :mod:`api.guards`).
    """

    model_config = SettingsConfigDict(env_prefix="GRIDDERMS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    inline_dispatch_max_periods: int = Field(default=8, ge=0)
    dispatch_workers: int = Field(default=1, ge=1, le=16)
    telemetry_max_age_s: float = Field(default=900.0, gt=0, le=86_400)
    auth_cache_s: float = Field(default=5.0, ge=0, le=300)
    max_dispatch_periods: int = Field(default=2880, ge=1)
    max_dispatch_der_periods: int = Field(default=1_000_000, ge=1)
    max_dispatch_memory_mb: float = Field(default=2048.0, gt=0)
    max_study_memory_mb: float = Field(default=2048.0, gt=0)
    audit_refusal_window_s: float = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _default_database(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'gridderms.db'}"
        return self
