"""What a hosting-capacity study is asked to do: the strict request model (buses, modes, power
factor, limits, tolerances, an optional time-series window and managed study), stored as the
run's JSON ``request``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from gridderms.service.errors import InvalidRequestError
from gridderms.service.json_documents import STRICT
from solvers.hosting_capacity.operating_point import MIN_LOAD_SHARE
from solvers.limits import OperatingLimits, StudyLimits

MAX_BUSES = 20_000
#: longest time-series window: a leap year of 15-minute steps
MAX_WINDOW_STEPS = 366 * 96
#: largest time-series screening, window steps x studied buses (memory of the per-step table)
MAX_WINDOW_CELLS = 5_000_000


class StudyNotApplicableError(InvalidRequestError):
    """A time-series window or managed study the feeder cannot do: no profiles, a window
    outside them, no PV profile (the API answers 422)."""


class TimeSeriesWindow(BaseModel):
    """Profile steps ``start_step .. start_step + n_steps - 1`` of a feeder with profiles.

    Attributes
    ----------
    start_step : int
        First profile step (0 is the first step of the profiles).
    n_steps : int
        Number of steps (96 is a day of 15-minute steps).
    """

    model_config = STRICT

    start_step: int = Field(ge=0, le=10_000_000)
    n_steps: int = Field(ge=1, le=MAX_WINDOW_STEPS)

    def steps(self) -> range:
        """The profile steps."""
        return range(self.start_step, self.start_step + self.n_steps)


class ManagedSpec(BaseModel):
    """The managed hosting capacity of a curtailable PV (needs ``timeseries`` and generation).

    Attributes
    ----------
    curtailment_share : float
        Largest share of the PV's available energy the DERMS may curtail, in [0, 1).
    """

    model_config = STRICT

    curtailment_share: float = Field(default=0.05, ge=0, lt=1)


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
    min_load_share : float
        Operating point for generation hosting capacity: loads at this share of their
        set-points [-], in [0, 1] (``--min-load-share``); not for loads with profiles nor for
        the time series, whose profiles give the operating point.
    timeseries : TimeSeriesWindow, optional
        Also study every profile step of this window (feeders with profiles): per bus and mode
        the lowest AC-exact capacity and the step that sets it, in the run's summary.
    managed : ManagedSpec, optional
        With ``timeseries`` and generation: per bus the managed capacity of a curtailable PV
        (the largest PV that loses at most ``curtailment_share`` of its energy), in the run's
        summary.
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
    min_load_share: float = Field(
        default=MIN_LOAD_SHARE,
        ge=0,
        le=1,
        description="Operating point for generation hosting capacity: loads at this share of "
        "their set-points [-] (load hosting capacity: 100 %). Not for loads with profiles (each "
        "at its minimum over the profiles) nor for the time series (each step's profile "
        "values).",
    )
    timeseries: TimeSeriesWindow | None = None
    managed: ManagedSpec | None = None
    expected_feeder_version: int | None = None

    @model_validator(mode="after")
    def _check(self) -> HostingCapacitySpec:
        if self.pf == 0.0:
            raise ValueError("pf must be within (0, 1] or [-1, 0), not 0")
        if self.managed is not None and self.timeseries is None:
            raise ValueError("managed needs a timeseries window (the PV's profile steps)")
        if self.managed is not None and self.mode == "load":
            raise ValueError("managed is a capacity for generation: use mode 'gen' or 'both'")
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
