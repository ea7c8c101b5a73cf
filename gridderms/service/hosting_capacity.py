"""Hosting-capacity studies in the service: requested (``queued``), run as background jobs
(``running`` with a progress) on a snapshot of the feeder's current topology, and stored with
one row per bus (``done``) or with the error (``failed``).

The study is :func:`solvers.hosting_capacity.static.hosting_capacity` (the static study of
``gridderms hosting-capacity``), run in the job's thread (``jobs=1``: no worker processes are
forked from the server).
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.models import (
    FeederRow,
    HostingCapacityResultRow,
    HostingCapacityRunRow,
    utcnow,
)
from gridderms.persistence.repositories import RecordNotFoundError, feeder_by_name
from gridderms.service.auth import Principal
from gridderms.service.dispatch import json_safe
from gridderms.service.errors import ConflictError, InvalidRequestError
from gridderms.service.feeders import FeederModels
from gridderms.service.jobs import (
    JobPool,
    fail_interrupted,
    fail_run,
    queue_run,
    set_progress,
    start_run,
)
from solvers.hosting_capacity.limits import StudyLimits
from solvers.hosting_capacity.refine import Tolerance
from solvers.hosting_capacity.static import hosting_capacity
from solvers.limits import OperatingLimits

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)
MAX_BUSES = 20_000


class HostingCapacitySpec(BaseModel):
    """What to study (validated strictly, stored as JSON with the run).

    Attributes
    ----------
    mode : {"gen", "load", "both"}
        New generation, new load, or both.
    pf : float
        Power factor of the new element: (0, 1] absorbs reactive power, [-1, 0) supplies it.
    buses : list of int, optional
        pandapower bus ids; default every energised bus.
    vm_min_pu, vm_max_pu, max_loading_percent : float, optional
        Override the limits at every bus and branch; default the feeder's own bus limits where
        it sets them, else the service's operating limits.
    tolerance_percent, tolerance_mw : float
        Width of the final AC bracket: max(tolerance_percent of the capacity, tolerance_mw).
    expected_feeder_version : int, optional
        Refuse (409) when the feeder's topology version differs.
    """

    model_config = STRICT

    mode: Literal["gen", "load", "both"] = "both"
    pf: float = Field(default=1.0, ge=-1.0, le=1.0)
    buses: list[int] | None = Field(default=None, min_length=1, max_length=MAX_BUSES)
    vm_min_pu: float | None = Field(default=None, gt=0, lt=2)
    vm_max_pu: float | None = Field(default=None, gt=0, lt=2)
    max_loading_percent: float | None = Field(default=None, gt=0, le=1000)
    tolerance_percent: float = Field(default=1.0, ge=0, le=50)
    tolerance_mw: float = Field(default=0.01, gt=0, le=100)
    expected_feeder_version: int | None = None

    @model_validator(mode="after")
    def _check(self) -> HostingCapacitySpec:
        if self.pf == 0.0:
            raise ValueError("pf must be within (0, 1] or [-1, 0), not 0")
        if (
            self.vm_min_pu is not None
            and self.vm_max_pu is not None
            and self.vm_min_pu >= self.vm_max_pu
        ):
            raise ValueError("vm_min_pu must be below vm_max_pu")
        return self

    def modes(self) -> tuple[Literal["gen", "load"], ...]:
        """The study modes."""
        return ("gen", "load") if self.mode == "both" else (self.mode,)

    def limits(self, defaults: OperatingLimits) -> StudyLimits:
        """The study limits: an override applies everywhere (as on the command line)."""
        overrides = (self.vm_min_pu, self.vm_max_pu, self.max_loading_percent)
        return StudyLimits(
            defaults=OperatingLimits(
                vm_min_pu=self.vm_min_pu if self.vm_min_pu is not None else defaults.vm_min_pu,
                vm_max_pu=self.vm_max_pu if self.vm_max_pu is not None else defaults.vm_max_pu,
                max_loading_percent=self.max_loading_percent
                if self.max_loading_percent is not None
                else defaults.max_loading_percent,
            ),
            use_bus_limits=all(v is None for v in overrides),
        )


def run_by_id(session: Session, run_id: str) -> HostingCapacityRunRow:
    """Hosting-capacity run ``run_id``.

    Raises
    ------
    RecordNotFoundError
    """
    row = session.scalars(
        select(HostingCapacityRunRow).where(HostingCapacityRunRow.run_id == run_id)
    ).one_or_none()
    if row is None:
        raise RecordNotFoundError("hosting-capacity run", run_id)
    return row


def results_of(session: Session, run: HostingCapacityRunRow) -> list[HostingCapacityResultRow]:
    """The per-bus table of ``run``, by bus."""
    return list(
        session.scalars(
            select(HostingCapacityResultRow)
            .where(HostingCapacityResultRow.run_pk == run.id)
            .order_by(HostingCapacityResultRow.bus)
        )
    )


def request_run(
    session: Session,
    models: FeederModels,
    actor: Principal,
    feeder_name: str,
    spec: HostingCapacitySpec,
) -> HostingCapacityRunRow:
    """Record (and audit) a study request.

    Raises
    ------
    RecordNotFoundError
        Unknown feeder.
    ConflictError
        A topology change is in progress, or ``expected_feeder_version`` is stale.
    InvalidRequestError
        A bus the feeder does not have, or one that is out of service or de-energised.
    """
    feeder = feeder_by_name(session, feeder_name)
    if models.changing(feeder_name):
        raise ConflictError(
            f"feeder '{feeder_name}' is in the middle of a topology change; request the "
            f"study again when it is done"
        )
    if spec.expected_feeder_version is not None and spec.expected_feeder_version != (
        feeder.version
    ):
        raise ConflictError(
            f"feeder '{feeder_name}' is at topology version {feeder.version}, not the expected "
            f"{spec.expected_feeder_version}"
        )
    if spec.buses is not None:
        with models.lock(feeder_name):
            model = models.model(feeder)
            energized = model.topology().energized_buses
            for bus in spec.buses:
                if bus not in model.net.bus.index:
                    raise InvalidRequestError(f"bus {bus} is not a bus of feeder '{feeder_name}'")
                if bus not in energized:
                    raise InvalidRequestError(
                        f"bus {bus} of feeder '{feeder_name}' is out of service or de-energized"
                    )
    request = spec.model_dump(mode="json")
    return queue_run(
        session,
        HostingCapacityRunRow,
        feeder,
        actor,
        request,
        action="hosting_capacity.request",
        target_type="hosting_capacity_run",
        audit_after={"feeder": feeder_name, "request": request},
    )


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def execute_run(
    factory: sessionmaker[Session],
    models: FeederModels,
    run_id: str,
    default_limits: OperatingLimits,
) -> str:
    """Run study ``run_id`` and store its table (one transaction); return the final status.

    Never raises for a failed study: the run is stored ``failed`` with the error.
    """
    with factory() as session:
        run = run_by_id(session, run_id)
        feeder = session.get_one(FeederRow, run.feeder_id)
        run_pk = start_run(session, run)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if total and (done == total or now - last[0] > 0.5):
                last[0] = now
                set_progress(factory, HostingCapacityRunRow, run_pk, 0.05 + 0.9 * done / total)

        try:
            spec = HostingCapacitySpec.model_validate(run.request, strict=False)
            snapshot = models.snapshot(feeder)
            result = hosting_capacity(
                snapshot,
                buses=spec.buses,
                modes=spec.modes(),
                pf=spec.pf,
                limits=spec.limits(default_limits),
                tolerance=Tolerance(spec.tolerance_percent / 100.0, spec.tolerance_mw),
                progress=progress,
                jobs=1,
            )
        except Exception as exc:
            return fail_run(session, HostingCapacityRunRow, run_pk, exc)
        session.expire_all()
        run = session.get_one(HostingCapacityRunRow, run_pk)
        table = result.table.reset_index()
        for record in table.to_dict("records"):
            session.add(
                HostingCapacityResultRow(
                    run_pk=run_pk,
                    bus=int(record["bus"]),
                    feeder=_text(record.get("feeder")),
                    hc_gen_mw=_finite(record.get("hc_gen_mw")),
                    binding_gen=_text(record.get("binding_gen")),
                    hc_load_mw=_finite(record.get("hc_load_mw")),
                    binding_load=_text(record.get("binding_load")),
                )
            )
        run.summary = json_safe(
            {
                "buses": len(table),
                "modes": list(result.modes),
                "pf": result.pf,
                "limits": result.limits,
                "operating_points": result.operating_points,
                "relaxed_limits": result.relaxed_limits,
                "times_s": result.times_s,
                "counts": result.counts,
            }
        )
        run.status = "done"
        run.progress = 1.0
        run.finished_at = utcnow()
        session.commit()
        return run.status


def fail_interrupted_runs(session: Session) -> int:
    """Mark studies left ``queued``/``running`` by a stopped service as failed."""
    return fail_interrupted(session, HostingCapacityRunRow)


class HostingCapacityJobs(JobPool):
    """Background execution of hosting-capacity studies (one at a time)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        models: FeederModels,
        default_limits: OperatingLimits,
    ) -> None:
        super().__init__(
            partial(execute_run, factory, models, default_limits=default_limits),
            1,
            "hosting-capacity",
        )
