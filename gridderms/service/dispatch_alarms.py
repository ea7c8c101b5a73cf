"""The alarms a dispatch run raises and clears: ``dispatch_infeasible``, ``dispatch_failed``,
``schedule_not_ac_feasible`` on its feeder, and ``telemetry_unusable`` per DER for a run that
starts now (see :mod:`gridderms.service.alarms` for the kinds)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gridderms.persistence.models import DispatchRunRow, utcnow
from gridderms.persistence.runs import run_by_pk
from gridderms.service import alarms
from gridderms.service.jobs import fail_run
from gridderms.service.measured_state import MeasuredState
from solvers.opf.request import DispatchResult


def fail_dispatch(session: Session, run_pk: int, exc: Exception) -> str:
    """Store the run ``failed`` and raise the feeder's ``dispatch_failed`` alarm (a run that
    was being cancelled ends ``cancelled``, without an alarm)."""
    status = fail_run(session, DispatchRunRow, run_pk, exc)
    if status != "failed":
        return status
    run = run_by_pk(session, run_pk)
    alarms.raise_or_clear(
        session,
        run.feeder_id,
        "dispatch_failed",
        alarms.Condition("major", f"dispatch run {run.run_id} failed: {run.error}"),
    )
    session.commit()
    return status


def sync_dispatch_alarms(session: Session, run: DispatchRunRow, result: DispatchResult) -> None:
    """Raise or clear the feeder's dispatch alarms from the outcome of ``run``."""
    infeasible = None
    if result.status != "optimal":
        limits = "; ".join(
            f"{d.get('limit')} of {d.get('element')} {d.get('element_id')} in period "
            f"{d.get('period')} by {d.get('amount')} {d.get('unit')}"
            for d in (run.diagnosis or [])[:3]
        )
        infeasible = alarms.Condition(
            "major",
            f"dispatch run {run.run_id} is {result.status}" + (f": {limits}" if limits else ""),
            {"run_id": run.run_id, "diagnosis": (run.diagnosis or [])[:20]},
        )
    alarms.raise_or_clear(session, run.feeder_id, "dispatch_infeasible", infeasible)
    if result.status != "optimal":
        return
    alarms.raise_or_clear(session, run.feeder_id, "dispatch_failed", None)
    violations = (run.summary or {}).get("ac_violations") or []
    not_feasible = None
    if not result.ac_feasible:
        not_feasible = alarms.Condition(
            "major",
            f"schedule of dispatch run {run.run_id} breaks {len(violations)} limit(s) in its "
            f"AC power-flow check",
            {"run_id": run.run_id, "violations": violations[:20]},
        )
    alarms.raise_or_clear(session, run.feeder_id, "schedule_not_ac_feasible", not_feasible)


def sync_telemetry_alarms(session: Session, feeder_id: int, state: MeasuredState) -> None:
    """``telemetry_unusable`` alarms, for a run that starts now (within the age limit)."""
    lag_s = abs((state.reference - utcnow()).total_seconds())
    if lag_s > state.max_age_s:
        return  # a study or a day-ahead run says nothing about the telemetry now
    present: dict[str | None, alarms.Condition] = {
        der_id: alarms.Condition("warning", f"DER '{der_id}': {reason}", None)
        for der_id, reason in state.unusable.items()
    }
    alarms.sync_conditions(session, feeder_id, "telemetry_unusable", present)
