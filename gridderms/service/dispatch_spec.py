"""What a dispatch run is asked to do: the strict request model, stored as the run's JSON
``request``, and the optimiser's objective it gives."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from gridderms.bounds import MAX_POWER_MW, MAX_PRICE_PER_MWH, DateTime
from gridderms.dispatch.horizon import Horizon
from gridderms.service.errors import InvalidRequestError
from gridderms.service.json_documents import STRICT
from solvers.opf.names import FormulationName, ObjectiveName
from solvers.opf.objective import Objective


def _curtailment_only() -> dict[ObjectiveName, float]:
    return {"curtailment": 1.0}


class DispatchSpec(BaseModel):
    """What to dispatch: horizon, objective, limits (validated strictly, stored as JSON).

    Attributes
    ----------
    start : datetime
        Start of the first period: an ISO 8601 date-time with an offset in the years
        :data:`~gridderms.bounds.DATETIME_YEARS`.
    horizon_h : float
        Horizon length [h], a whole number of steps, at least one.
    step_minutes : int
        Period length [min].
    start_step : int, optional
        First profile step, for feeders with profiles; default: the step at ``start``.
    snapshot : bool
        Every period uses the model as given (loads at their ``p_mw``, each sgen's ``p_mw``
        its available power) instead of the forecast.
    objective_weights : dict
        Weight per objective (``curtailment``, ``cost``, ``track``, ``peak``, ``losses``).
    share_curtailment : bool
        Curtail every curtailable DER by the same share.
    price_per_mwh : list of float, optional
        Energy price per period [currency/MWh] for ``cost``.
    head_target_mw : list of float, optional
        Feeder-head import target per period [MW] for ``track``.
    head_import_max_mw, head_export_max_mw : float, optional
        Feeder-head exchange limits [MW].
    vm_min_pu, vm_max_pu, max_loading_percent : float, optional
        Voltage band [pu] (``vm_min_pu < vm_max_pu``) and thermal limit [%]; default: the
        service settings.
    formulation : {"lindistflow", "linearized-ac", "linearized-ac-full"}
    execution : {"auto", "inline", "job"}
        ``auto`` answers inline up to the configured number of periods.
    expected_feeder_version : int, optional
        Refuse (409) when the feeder's topology version differs.
    """

    model_config = STRICT

    start: DateTime
    horizon_h: float = Field(gt=0, le=24 * 14)
    step_minutes: int = Field(ge=1, le=24 * 60)
    start_step: int | None = Field(
        default=None,
        ge=0,
        description="First profile step on a feeder with profiles; default: the step at start.",
    )
    cloud_cover_percent: list[Annotated[float, Field(ge=0, le=100)]] | None = Field(
        default=None,
        max_length=24 * 14 * 60,
        description="Cloud cover per period [%] (0 clear .. 100 overcast) scaling the pvlib "
        "clear-sky PV forecast; one value per period.",
    )
    snapshot: bool = Field(
        default=False,
        description="Use the model's own load and DER values in every period (sgen p_mw is "
        "the available power) instead of the clock- and location-aware forecast.",
    )
    objective_weights: dict[ObjectiveName, float] = Field(default_factory=_curtailment_only)
    share_curtailment: bool = False
    price_per_mwh: (
        list[Annotated[float, Field(ge=-MAX_PRICE_PER_MWH, le=MAX_PRICE_PER_MWH)]] | None
    ) = Field(default=None, max_length=24 * 14 * 60)
    head_target_mw: list[Annotated[float, Field(ge=-MAX_POWER_MW, le=MAX_POWER_MW)]] | None = Field(
        default=None, max_length=24 * 14 * 60
    )
    head_import_max_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    head_export_max_mw: float | None = Field(default=None, ge=0, le=MAX_POWER_MW)
    vm_min_pu: float | None = Field(default=None, gt=0, lt=2)
    vm_max_pu: float | None = Field(default=None, gt=0, lt=2)
    max_loading_percent: float | None = Field(default=None, gt=0, le=1000)
    formulation: FormulationName = "lindistflow"
    execution: Literal["auto", "inline", "job"] = "auto"
    expected_feeder_version: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> DispatchSpec:
        if round(self.horizon_h * 60 / self.step_minutes) < 1:
            raise ValueError(
                f"horizon_h = {self.horizon_h:g} h is shorter than one {self.step_minutes}-min "
                f"step (step_minutes): give at least one period"
            )
        if (
            self.vm_min_pu is not None
            and self.vm_max_pu is not None
            and self.vm_min_pu >= self.vm_max_pu
        ):
            raise ValueError(
                f"vm_min_pu = {self.vm_min_pu:g} must be below vm_max_pu = {self.vm_max_pu:g}"
            )
        return self

    def horizon(self) -> Horizon:
        """The horizon, or :class:`InvalidRequestError` when it is not whole steps."""
        try:
            return Horizon(
                pd.Timestamp(self.start).tz_convert("UTC"), self.horizon_h, self.step_minutes
            )
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None


def objective(spec: DispatchSpec) -> Objective:
    """The optimiser's objective of ``spec``."""
    return Objective(
        weights={str(k): v for k, v in spec.objective_weights.items()},
        price_per_mwh=None if spec.price_per_mwh is None else np.asarray(spec.price_per_mwh),
        head_target_mw=None if spec.head_target_mw is None else np.asarray(spec.head_target_mw),
        share_curtailment=spec.share_curtailment,
    )
