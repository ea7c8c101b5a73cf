"""The DERs a dispatch decides, as arrays over DER x period (no domain objects).

``gridderms.dispatch`` turns registry records and forecasts into a :class:`DerFleet`; the
formulations read only these arrays. Sign convention: generation positive (a charging battery
has negative ``p``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: storage-only fields, NaN for DERs without storage
STORAGE_FIELDS = frozenset(
    {
        "e_min_mwh",
        "e_max_mwh",
        "e_initial_mwh",
        "e_final_min_mwh",
        "charge_efficiency",
        "discharge_efficiency",
    }
)


@dataclass(frozen=True)
class DerFleet:
    """DER limits and targets per period.

    Attributes
    ----------
    der_ids : list of str
    element : list of tuple
        ``(table, id)`` of the pandapower element that carries each DER in the AC model
        (``"sgen"`` or ``"storage"``).
    bus : numpy.ndarray
        pandapower bus of each DER.
    p_min_mw, p_max_mw : numpy.ndarray
        Active power range per DER and period [MW] (DER x period).
    p_available_mw : numpy.ndarray
        Available generation per DER and period [MW]; curtailment is measured against it
        (zero for DERs that cannot be curtailed or do not generate).
    curtailable : numpy.ndarray of bool
    q_min_mvar, q_max_mvar : numpy.ndarray
        Reactive range (IEEE 1547 category limits) per DER [MVAr]; absorption negative.
    s_rated_mva : numpy.ndarray
        Apparent-power rating [MVA].
    tan_phi_max : numpy.ndarray
        ``tan(acos(pf_min))``: |q| <= tan_phi_max * p for generating DERs [-]; ``inf`` for a
        DER whose reactive range is a declared box ``q_min_mvar .. q_max_mvar`` with no
        power-factor limit (pandapower's ``min_q_mvar`` / ``max_q_mvar``).
    is_storage : numpy.ndarray of bool
    e_min_mwh, e_max_mwh, e_initial_mwh, e_final_min_mwh : numpy.ndarray
        Storage energy data [MWh] (NaN for DERs without storage).
    charge_efficiency, discharge_efficiency : numpy.ndarray
        [-] (NaN without storage).
    ramp_mw_per_period : numpy.ndarray
        Largest change of ``p`` between periods [MW] (inf: no limit).
    fixed : numpy.ndarray of bool
        Locked-out or offline DERs held at ``p_fixed_mw`` / ``q_fixed_mvar``.
    p_fixed_mw, q_fixed_mvar : numpy.ndarray
        Fixed set-points (DER x period) [MW, MVAr], used where ``fixed``.
    neutral_window : numpy.ndarray of bool, optional
        DER x period: the periods over which a flexible load must be energy-neutral.
    p_baseline_mw : numpy.ndarray, optional
        Baseline consumption of flexible loads [MW] (load positive).
    """

    der_ids: list[str]
    element: list[tuple[str, int]]
    bus: np.ndarray
    p_min_mw: np.ndarray
    p_max_mw: np.ndarray
    p_available_mw: np.ndarray
    curtailable: np.ndarray
    q_min_mvar: np.ndarray
    q_max_mvar: np.ndarray
    s_rated_mva: np.ndarray
    tan_phi_max: np.ndarray
    is_storage: np.ndarray
    e_min_mwh: np.ndarray
    e_max_mwh: np.ndarray
    e_initial_mwh: np.ndarray
    e_final_min_mwh: np.ndarray
    charge_efficiency: np.ndarray
    discharge_efficiency: np.ndarray
    ramp_mw_per_period: np.ndarray
    fixed: np.ndarray
    p_fixed_mw: np.ndarray
    q_fixed_mvar: np.ndarray
    neutral_window: np.ndarray | None = None
    p_baseline_mw: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.der_ids)
        if len(set(self.der_ids)) != n:
            raise ValueError("DER ids in a fleet must be unique")
        shape = self.p_max_mw.shape
        for name in ("p_min_mw", "p_available_mw", "p_fixed_mw", "q_fixed_mvar"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        for name, value in vars(self).items():
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
                continue
            valid = np.isfinite(value)
            if name in ("ramp_mw_per_period", "tan_phi_max"):
                valid |= np.isposinf(value)  # no ramp limit / no power-factor limit
            if name in STORAGE_FIELDS:
                valid |= ~self.is_storage  # NaN where a DER has no storage
            if not valid.all():
                where = tuple(np.argwhere(~valid)[0])
                raise ValueError(
                    f"DER '{self.der_ids[where[0]]}': {name} is not a finite number "
                    f"({value[where]})"
                )
        if (self.p_min_mw > self.p_max_mw + 1e-12).any():
            d, t = np.argwhere(self.p_min_mw > self.p_max_mw + 1e-12)[0]
            raise ValueError(
                f"DER '{self.der_ids[d]}': p_min_mw {self.p_min_mw[d, t]} > p_max_mw "
                f"{self.p_max_mw[d, t]} in period {t}"
            )

        # the smallest |p| each DER must deliver may not exceed its apparent-power rating
        required = np.where(
            (self.p_min_mw <= 0) & (self.p_max_mw >= 0),
            0.0,
            np.minimum(np.abs(self.p_min_mw), np.abs(self.p_max_mw)),
        )
        required = np.where(
            self.fixed[:, None], np.hypot(self.p_fixed_mw, self.q_fixed_mvar), required
        )
        over = required > self.s_rated_mva[:, None] * (1 + 1e-9)
        if over.any():
            d, t = np.argwhere(over)[0]
            raise ValueError(
                f"DER '{self.der_ids[d]}' must deliver {required[d, t]:.4f} MW/MVA in period {t}, "
                f"more than its apparent-power rating s_rated_mva = {self.s_rated_mva[d]:.4f}"
            )

    @property
    def n_der(self) -> int:
        """Number of DERs."""
        return len(self.der_ids)

    @property
    def n_periods(self) -> int:
        """Number of periods."""
        return int(self.p_max_mw.shape[1])
