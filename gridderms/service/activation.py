"""Safe activation: a schedule commands only DERs whose state is what the run solved with.

A dispatch run reads the DERs (status, override, record) and solves for seconds to minutes;
an operator may lock a DER out, override it or declare it offline meanwhile. Every such change
increments the DER's ``state_version`` (:func:`gridderms.service.ders.touch`, under the
feeder's row lock). The rule, applied when a run stores its schedule and when an operator
approves one:

- the run keeps the versions it read (``dispatch_runs.der_state``);
- a run that finds, after its solve, that a DER changed re-reads the DERs and solves again
  (up to :data:`MAX_SOLVES` times in all);
- when DERs still differ at activation, the schedule is stored but not activated (it waits
  for approval, with the changed DERs named), and those DERs get no command;
- approval is refused (409) while any DER differs from what the run read: dispatch again;
- whatever the path, only DERs that are ``available`` and not overridden *now* get a schedule
  command (:func:`commandable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gridderms.ders import DerRecord
from gridderms.ders.setpoints import check_setpoint
from gridderms.persistence.models import DerRow

#: solves per dispatch run while DERs keep changing under it (the first and two re-solves)
MAX_SOLVES = 3


def der_versions(rows: Iterable[DerRow]) -> dict[str, int]:
    """``der_id -> state_version`` of ``rows``."""
    return {row.der_id: int(row.state_version or 0) for row in rows}


def changed_ders(read: Mapping[str, int], now: Mapping[str, int]) -> list[str]:
    """DERs whose state differs between the versions a run ``read`` and those of ``now``:
    changed, removed or added, sorted."""
    return sorted(der_id for der_id in set(read) | set(now) if read.get(der_id) != now.get(der_id))


def commandable(rows: Iterable[DerRow]) -> set[str]:
    """DERs that may receive a schedule command now: ``available`` and not overridden (a
    locked-out or offline DER gets none; an overridden one keeps its override command)."""
    return {row.der_id for row in rows if row.status == "available" and row.override_p_mw is None}


def describe(rows: Iterable[DerRow], der_ids: Iterable[str]) -> str:
    """``"sgen-3 (locked_out), pv-9 (removed)"``: the DERs ``der_ids`` with their state now."""
    by_id = {row.der_id: row for row in rows}
    parts = []
    for der_id in der_ids:
        row = by_id.get(der_id)
        if row is None:
            parts.append(f"{der_id} (removed)")
        elif row.override_p_mw is not None:
            parts.append(f"{der_id} ({row.status}, overridden)")
        else:
            parts.append(f"{der_id} ({row.status})")
    return ", ".join(parts)


def checked_points(
    points: Iterable[Mapping[str, Any]], records: Iterable[DerRecord]
) -> Iterator[dict[str, Any]]:
    """The schedule ``points`` (``der_id``, ``period``, ``p_mw``, ``q_mvar``, ``mode``) with
    every set-point checked against its DER's capability
    (:func:`~gridderms.ders.setpoints.check_setpoint`, clipped within its tolerance); fixed
    points and DERs no longer registered pass unchanged (they get no command).

    Raises
    ------
    SetpointError
        A point outside its DER's active-power range or reactive capability (named).
    """
    by_id = {record.der_id: record for record in records}
    for point in points:
        record = by_id.get(point["der_id"])
        if point["mode"] == "fixed" or record is None:
            yield dict(point)
            continue
        p_mw, q_mvar = check_setpoint(
            record, point["p_mw"], point["q_mvar"], what=f"schedule period {point['period']}"
        )
        yield {**point, "p_mw": p_mw, "q_mvar": q_mvar}


__all__ = [
    "MAX_SOLVES",
    "changed_ders",
    "checked_points",
    "commandable",
    "der_versions",
    "describe",
]
