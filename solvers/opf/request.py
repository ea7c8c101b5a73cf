"""What a dispatch is asked (:class:`DispatchRequest`) and what it answers
(:class:`DispatchResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from network_models.profiles import FeederProfiles
from solvers.limits import (
    LOADING_TOLERANCE_PERCENT,
    VM_TOLERANCE_PU,
    DispatchLimits,
    LimitBreach,
)
from solvers.opf.fleet import DerFleet
from solvers.opf.objective import Objective


@dataclass(frozen=True)
class DispatchRequest:
    """What to dispatch and under which limits.

    Attributes
    ----------
    fleet : DerFleet
        The DERs, their ranges and availability per period.
    forecast : FeederProfiles
        Load (and non-DER generation) set-points per period, one step per period.
    limits : DispatchLimits
    objective : Objective
    dt_h : float
        Period length [h].
    formulation : str
        One of :data:`~solvers.opf.names.FORMULATIONS`: ``"lindistflow"`` (radial),
        ``"linearized-ac"`` (linear AC sensitivities from the power-flow Jacobian, only the
        limits near binding written; radial or meshed) or ``"linearized-ac-full"`` (the same
        model with every bus state and every limit).
    backend : str
        ``"highspy"`` (the LP passed to HiGHS in one call) or ``"pyomo"`` (a Pyomo model
        through Pyomo's persistent HiGHS interface).
    max_iterations : int
        Cap on solve/verify rounds.
    vm_tolerance_pu, loading_tolerance_percent : float
        AC violations up to these are accepted [pu], [%] (see :func:`solvers.limits.widened`).
    """

    fleet: DerFleet
    forecast: FeederProfiles
    limits: DispatchLimits
    objective: Objective
    dt_h: float
    formulation: str = "lindistflow"
    max_iterations: int = 6
    backend: str = "highspy"
    vm_tolerance_pu: float = VM_TOLERANCE_PU
    loading_tolerance_percent: float = LOADING_TOLERANCE_PERCENT


@dataclass(frozen=True)
class DispatchResult:
    """Schedule, AC verification and diagnosis of one dispatch.

    ``status`` is ``"optimal"`` (schedule found; see ``ac_feasible``) or ``"infeasible"``
    (no schedule; see ``diagnosis``).
    """

    status: Literal["optimal", "infeasible"]
    formulation: str
    schedule: pd.DataFrame  # der_id, period, p_mw, q_mvar, p_available_mw, curtailed_mw, mode
    storage_energy_mwh: pd.DataFrame  # period x storage der_id
    network: pd.DataFrame  # per period: AC min/max vm_pu, max loading, head, losses
    ac_feasible: bool
    ac_violations: tuple[LimitBreach, ...]
    iterations: int
    objective_value: float
    curtailed_mwh: float
    build_s: float
    solve_s: float
    verify_s: float
    total_s: float
    diagnosis: tuple[LimitBreach, ...] = field(default=())
    #: what the caller should know about the inputs and the answer (defaults applied,
    #: night-time PV, a fall-back formulation)
    notes: tuple[str, ...] = field(default=())
    #: the caller's description of the forecast the request was built from
    forecast: Mapping[str, object] | None = None

    def summary(self) -> dict[str, object]:
        """JSON-ready summary."""
        net = self.network
        return {
            "status": self.status,
            "formulation": self.formulation,
            "notes": list(self.notes),
            "forecast": dict(self.forecast) if self.forecast is not None else None,
            "ac_feasible": self.ac_feasible,
            "iterations": self.iterations,
            "objective_value": self.objective_value,
            "curtailed_mwh": self.curtailed_mwh,
            "min_vm_pu": float(net.min_vm_pu.min()) if len(net) else None,
            "max_vm_pu": float(net.max_vm_pu.max()) if len(net) else None,
            "max_loading_percent": float(net.max_loading_percent.max()) if len(net) else None,
            "ac_violations": [v.to_dict() for v in self.ac_violations],
            "diagnosis": [d.to_dict() for d in self.diagnosis],
            "times_s": {
                "build": self.build_s,
                "solve": self.solve_s,
                "verify": self.verify_s,
                "total": self.total_s,
            },
        }
