"""Reactive power capability of a DER: apparent-power rating, power-factor limit, IEEE 1547.

Sign convention (pandapower, generator view): positive Q is injection (over-excited, raising the
local voltage), negative Q is absorption (under-excited). Powers in [MW], [MVAr], [MVA].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from gridderms.bounds import MAX_POWER_MW
from gridderms.ders._checks import STRICT_FROZEN, check_numeric_inputs
from gridderms.ders.errors import CapabilityError

Ieee1547Category = Literal["A", "B"]
"""IEEE 1547-2018 normal-operating-performance category of a DER."""

IEEE1547_TABLE7_PU: Mapping[str, tuple[float, float]] = {"A": (0.44, 0.25), "B": (0.44, 0.44)}
"""IEEE 1547-2018 Table 7: (injection, absorption) reactive capability [pu of S_rated]."""


class ReactiveCapability(BaseModel):
    """Reactive power capability of one DER.

    The reactive power available at an active power ``P`` is the tightest of three limits
    (see :func:`q_limits_mvar`): the apparent-power circle ``sqrt(S_rated**2 - P**2)``, the
    power-factor limit ``|P| * tan(acos(pf_min))`` and the IEEE 1547-2018 category limit.

    IEEE 1547-2018 Table 7, minimum reactive power capability in per unit of the nameplate
    apparent power ``S_rated`` (available whenever active power output is at or above 20 % of
    nameplate):

    ========  =============================  ==============================
    Category  Injection (over-excited) [pu]  Absorption (under-excited) [pu]
    ========  =============================  ==============================
    A         0.44                           0.25
    B         0.44                           0.44
    ========  =============================  ==============================

    The registry uses these minimum capabilities as the limits the DERMS may dispatch: every
    compliant DER is guaranteed to offer them, an individual inverter may offer more.

    Attributes
    ----------
    s_rated_mva : float
        Nameplate apparent power [MVA], > 0 and at most
        :data:`~gridderms.bounds.MAX_POWER_MW`.
    pf_min : float
        Minimum absolute power factor the DER may operate at [-], ``0 < pf_min <= 1``
        (e.g. 0.9; 1.0 means unity power factor only, i.e. no reactive power).
    ieee1547_category : {"A", "B"}
        IEEE 1547-2018 normal-operating-performance category.
    q_min_mvar, q_max_mvar : float, optional
        A reactive range the DER's model declares [MVAr] (pandapower's ``min_q_mvar`` /
        ``max_q_mvar``, generator sign: absorption negative). When given, the range is this box
        (and the apparent-power circle): ``pf_min`` and the IEEE 1547 category limits do not
        apply. ``q_min_mvar == q_max_mvar`` holds the DER at that reactive power.
    defaulted : bool
        True when :func:`~gridderms.ders.net_import.ders_from_net` gave the DER ``pf_min`` and
        the category because its model declares no reactive capability (the dispatch notes
        those DERs); False for capabilities a registry or a model states.
    """

    model_config = STRICT_FROZEN

    s_rated_mva: float = Field(gt=0, le=MAX_POWER_MW)
    pf_min: float = Field(gt=0, le=1)
    ieee1547_category: Ieee1547Category
    q_min_mvar: float | None = Field(default=None, ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    q_max_mvar: float | None = Field(default=None, ge=-MAX_POWER_MW, le=MAX_POWER_MW)
    defaulted: bool = False

    @model_validator(mode="before")
    @classmethod
    def _reject_non_finite(cls, data: object) -> object:
        check_numeric_inputs(cls, data)
        return data

    @model_validator(mode="after")
    def _check_declared_range(self) -> ReactiveCapability:
        declared = (self.q_min_mvar is None, self.q_max_mvar is None)
        if declared[0] != declared[1]:
            raise CapabilityError(
                "q_min_mvar and q_max_mvar must be given together (a declared reactive range)"
            )
        if self.q_min_mvar is not None and self.q_max_mvar is not None:
            for name, value in (("q_min_mvar", self.q_min_mvar), ("q_max_mvar", self.q_max_mvar)):
                if not math.isfinite(value):
                    raise CapabilityError(f"{name} must be finite [MVAr], got {value}")
            if self.q_min_mvar > self.q_max_mvar:
                raise CapabilityError(
                    f"q_min_mvar ({self.q_min_mvar}) is above q_max_mvar ({self.q_max_mvar})"
                )
        return self

    @property
    def declared(self) -> bool:
        """Whether the reactive range is a declared box (not pf_min and IEEE 1547)."""
        return self.q_min_mvar is not None

    @property
    def q_inject_max_mvar(self) -> float:
        """Upper reactive limit [MVAr]: the declared ``q_max_mvar``, else the category limit
        on injection (0.44 * S_rated for A and B)."""
        if self.q_max_mvar is not None:
            return self.q_max_mvar
        return IEEE1547_TABLE7_PU[self.ieee1547_category][0] * self.s_rated_mva

    @property
    def q_absorb_max_mvar(self) -> float:
        """Lower reactive limit as an absorption magnitude [MVAr]: ``-q_min_mvar`` when
        declared, else the category limit (0.25 * S_rated for category A, 0.44 * S_rated
        for category B)."""
        if self.q_min_mvar is not None:
            return -self.q_min_mvar
        return IEEE1547_TABLE7_PU[self.ieee1547_category][1] * self.s_rated_mva


def q_limits_mvar(p_mw: float, capability: ReactiveCapability) -> tuple[float, float]:
    """Return the reactive power range of a DER at a given active power.

    Each bound is the tightest of:

    * the apparent-power circle ``sqrt(S_rated**2 - P**2)`` (0 when ``|P| >= S_rated``),
    * the power-factor limit ``|P| * tan(acos(pf_min))`` (0 at ``P = 0``, so a DER that is
      not producing or consuming active power offers no reactive power),
    * the IEEE 1547-2018 Table 7 category limit (:attr:`ReactiveCapability.q_inject_max_mvar`
      for injection, :attr:`ReactiveCapability.q_absorb_max_mvar` for absorption).

    The limits depend on ``|P|`` only, so they hold for generation (``P > 0``) and for a
    charging battery or a load (``P < 0``) alike.

    Parameters
    ----------
    p_mw : float
        Active power operating point [MW], generation positive.
    capability : ReactiveCapability
        Reactive capability of the DER.

    Returns
    -------
    tuple[float, float]
        ``(q_min_mvar, q_max_mvar)`` [MVAr]: ``q_min_mvar <= 0`` is the absorption limit
        (negative), ``q_max_mvar >= 0`` the injection limit.

    Raises
    ------
    CapabilityError
        ``p_mw`` is NaN, infinite or a boolean.

    Examples
    --------
    >>> cap = ReactiveCapability(s_rated_mva=0.1, pf_min=0.9, ieee1547_category="B")
    >>> q_min, q_max = q_limits_mvar(0.08, cap)
    >>> round(q_max, 5), round(q_min, 5)  # power-factor limit binds: 0.08 * tan(acos 0.9)
    (0.03875, -0.03875)
    """
    if isinstance(p_mw, bool) or not isinstance(p_mw, int | float) or not math.isfinite(p_mw):
        raise CapabilityError(f"p_mw must be a finite number [MW], got {p_mw!r}")
    p_abs = abs(float(p_mw))
    s_rated = capability.s_rated_mva
    q_circle = math.sqrt(s_rated * s_rated - p_abs * p_abs) if p_abs < s_rated else 0.0
    if capability.q_min_mvar is not None and capability.q_max_mvar is not None:
        low = min(max(capability.q_min_mvar, -q_circle), q_circle)
        return low, max(min(capability.q_max_mvar, q_circle), low)
    q_pf = p_abs * math.tan(math.acos(capability.pf_min))
    q_max = min(q_circle, q_pf, capability.q_inject_max_mvar)
    q_absorb = min(q_circle, q_pf, capability.q_absorb_max_mvar)
    return (-q_absorb if q_absorb > 0.0 else 0.0), q_max
