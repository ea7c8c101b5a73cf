"""The measured state of a feeder's DERs at the start of a dispatch, from telemetry.

Dispatch starts from what the DERs report, not only from what was registered:

- a battery's state of charge [%] is its measured ``soc_percent`` (clipped to its operating
  band, with a note when it lies outside);
- a locked-out DER is held at its measured output ``p_mw``/``q_mvar`` [MW]/[MVAr] (the
  optimiser does not move it, so it runs as it does now), unless an operator override fixes
  it.

A measurement is usable when its quality is ``good`` and it was taken at most ``max_age_s``
before the horizon start, and not after it. A DER that reports telemetry but has no usable
measurement falls back to its registered values and is listed with the reason; DERs that never
reported (unmonitored behind-the-meter units) are not listed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gridderms.ders import BatteryStorage, DerRecord
from gridderms.persistence.telemetry_store import latest_per_der

#: DERs named per list in a run summary (the counts are always complete)
SUMMARY_LIST_MAX = 20
#: a measured output above a DER's apparent-power rating by more than this share is refused
RATING_TOLERANCE = 0.02


@dataclass(frozen=True)
class Reading:
    """The latest usable measurement of a DER."""

    measured_at: datetime
    p_mw: float | None
    q_mvar: float | None
    soc_percent: float | None


@dataclass
class MeasuredState:
    """Usable readings and the reasons the other reporting DERs have none.

    Attributes
    ----------
    reference : datetime
        The horizon start the ages are measured to.
    max_age_s : float
        Oldest usable measurement [s] before ``reference``.
    usable : dict
        ``der_id -> Reading``.
    unusable : dict
        ``der_id -> reason``.
    """

    reference: datetime
    max_age_s: float
    usable: dict[str, Reading] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)


def measured_state(
    session: Session, feeder_id: int, reference: datetime, max_age_s: float
) -> MeasuredState:
    """The usable DER readings of a feeder at ``reference`` (two indexed queries)."""
    state = MeasuredState(reference, max_age_s)
    since = reference - timedelta(seconds=max_age_s)
    for row in latest_per_der(session, feeder_id, since, reference, good=True):
        assert row.der_id is not None
        state.usable[row.der_id] = Reading(row.measured_at, row.p_mw, row.q_mvar, row.soc_percent)
    for row in latest_per_der(session, feeder_id, None, reference, good=False):
        assert row.der_id is not None
        if row.der_id in state.usable:
            continue
        age_s = (reference - row.measured_at).total_seconds()
        if age_s > max_age_s:
            state.unusable[row.der_id] = (
                f"latest measurement ({row.measured_at.isoformat()}) is {age_s:.0f} s before "
                f"the horizon start; at most {max_age_s:.0f} s is usable"
            )
        else:
            state.unusable[row.der_id] = (
                f"no good measurement in the {max_age_s:.0f} s before the horizon start; the "
                f"latest ({row.measured_at.isoformat()}) has quality '{row.quality}'"
            )
    return state


def apply_measurements(
    records: Sequence[DerRecord],
    overrides: dict[str, tuple[float, float]],
    state: MeasuredState,
) -> tuple[list[DerRecord], dict[str, tuple[float, float]], dict[str, Any]]:
    """Records and fixed set-points updated with the usable readings, and what was used.

    Returns
    -------
    records : list of DerRecord
        Batteries with their measured initial state of charge.
    overrides : dict
        ``overrides`` plus locked-out DERs held at their measured output.
    use : dict
        For the run summary: counts, and per use the DERs (at most
        :data:`SUMMARY_LIST_MAX` named).
    """
    updated: list[DerRecord] = []
    fixed = dict(overrides)
    soc_from: dict[str, float] = {}
    soc_clipped: dict[str, str] = {}
    held: dict[str, float] = {}
    for record in records:
        reading = state.usable.get(record.der_id)
        measured_soc = None if reading is None else reading.soc_percent
        if measured_soc is not None and isinstance(record, BatteryStorage):
            low, high = record.soc_min_percent, record.soc_max_percent
            soc = min(max(measured_soc, low), high)
            if soc != measured_soc:
                soc_clipped[record.der_id] = (
                    f"measured {measured_soc:g} % is outside the band [{low:g}, {high:g}] %; "
                    f"{soc:g} % used"
                )
            soc_from[record.der_id] = soc
            record = record.model_copy(update={"soc_initial_percent": soc})
        if (
            reading is not None
            and record.status == "locked_out"
            and record.der_id not in overrides
            and reading.p_mw is not None
        ):
            q_mvar = reading.q_mvar or 0.0
            s_mva = math.hypot(reading.p_mw, q_mvar)
            rating = record.reactive.s_rated_mva
            if s_mva > rating * (1.0 + RATING_TOLERANCE):
                state.unusable[record.der_id] = (
                    f"measured output {reading.p_mw:g} MW, {q_mvar:g} MVAr "
                    f"({reading.measured_at.isoformat()}) exceeds its rating of {rating:g} MVA"
                )
                del state.usable[record.der_id]
            else:
                fixed[record.der_id] = (reading.p_mw, q_mvar)
                held[record.der_id] = reading.p_mw
        updated.append(record)
    use = {
        "reference": state.reference.isoformat(),
        "max_age_s": state.max_age_s,
        "ders_with_usable_telemetry": len(state.usable),
        "ders_with_unusable_telemetry": len(state.unusable),
        "soc_initial_percent_measured": _first(soc_from),
        "soc_clipped": _first(soc_clipped),
        "locked_out_held_at_measured_p_mw": _first(held),
        "unusable": _first(state.unusable),
    }
    return updated, fixed, use


def _first(values: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(values.items())[:SUMMARY_LIST_MAX])
