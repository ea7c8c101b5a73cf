"""The service at a glance, for the metrics: feeders loaded, dispatch runs by status, active
alarms by feeder and severity."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from gridderms.persistence.alarms import active_counts
from gridderms.persistence.feeders import count_feeders
from gridderms.persistence.runs import run_status_counts


@dataclass(frozen=True)
class Overview:
    """Counts of what the service holds now.

    Attributes
    ----------
    feeders : int
        Feeders loaded.
    runs : dict
        ``status -> number of dispatch runs``.
    alarms : dict
        ``(feeder, severity) -> number of active alarms``.
    """

    feeders: int
    runs: dict[str, int]
    alarms: dict[tuple[str, str], int]


def overview(session: Session) -> Overview:
    """What the service holds now (three aggregate queries)."""
    return Overview(count_feeders(session), run_status_counts(session), active_counts(session))
