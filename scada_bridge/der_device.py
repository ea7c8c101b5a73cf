"""An IEEE 1547-2018 DER as its DNP3 device behaves: a PV inverter or a battery that follows
power-limit, power-factor and var commands with a ramp, and can fail or freeze.

Pure model (no I/O): :class:`DerDevice` holds the commanded settings and the output, and
:meth:`DerDevice.step` advances it. Conventions: ``p_mw`` [MW] generation positive (a battery
charging is negative), ``q_mvar`` [MVAr] injection positive, ``vm_pu`` [pu] the grid's voltage
at the terminals, ``soc_percent`` [%].

- Active power moves toward its target by at most ``ramp_percent_per_s`` of the rating per
  second. PV target: ``min(available_p_mw, limit)``; battery target: its set-point, clipped
  to the rating, to the limit when discharging and to zero at the state-of-charge bounds.
- Reactive power follows the constant power factor (``q = p tan(acos pf)``, negative when
  absorbing) or the constant var set-point, clipped to ``q_max_mvar`` and to the
  apparent-power circle (active power has priority).
- A failed device goes to zero output at the next step and refuses commands
  (:class:`DeviceFaultError`); a frozen one keeps reporting the values of the moment it froze while
  its state still moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


class DeviceFaultError(RuntimeError):
    """A command to a failed device."""


@dataclass(frozen=True)
class DeviceRating:
    """What the device can do.

    Attributes
    ----------
    kind : {"pv", "battery"}
    s_rated_mva : float
        Apparent-power rating [MVA].
    p_rated_mw : float
        Active-power rating [MW] (a battery's, both ways).
    q_max_mvar : float
        Largest reactive power [MVAr], injected or absorbed.
    e_rated_mwh : float or None
        A battery's energy [MWh].
    soc_min_percent, soc_max_percent : float
        A battery's state-of-charge band [%].
    ramp_percent_per_s : float
        Largest change of P [% of ``p_rated_mw`` per s].
    """

    kind: Literal["pv", "battery"]
    s_rated_mva: float
    p_rated_mw: float
    q_max_mvar: float = 0.0
    e_rated_mwh: float | None = None
    soc_min_percent: float = 10.0
    soc_max_percent: float = 90.0
    ramp_percent_per_s: float = 20.0

    def __post_init__(self) -> None:
        if self.kind not in ("pv", "battery"):
            raise ValueError(f"kind {self.kind!r} is not 'pv' or 'battery'")
        for name in ("s_rated_mva", "p_rated_mw", "ramp_percent_per_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be positive and finite, got {value!r}")
        if not math.isfinite(self.q_max_mvar) or self.q_max_mvar < 0:
            raise ValueError(f"q_max_mvar must be >= 0 and finite, got {self.q_max_mvar!r}")
        if self.kind == "battery":
            e = self.e_rated_mwh
            if e is None or not math.isfinite(e) or e <= 0:
                raise ValueError(f"a battery's e_rated_mwh must be positive, got {e!r}")
            if not 0 <= self.soc_min_percent < self.soc_max_percent <= 100:
                raise ValueError(
                    f"soc band [{self.soc_min_percent}, {self.soc_max_percent}] % is not "
                    "within [0, 100] % with min < max"
                )


class DerDevice:
    """The device: commanded settings, output, faults.

    Parameters
    ----------
    rating : DeviceRating
    available_p_mw : float, optional
        PV: what the sun gives now [MW] (default: the rating).
    soc_percent : float
        A battery's initial state of charge [%].
    vm_pu : float
        Terminal voltage [pu].
    """

    def __init__(
        self,
        rating: DeviceRating,
        available_p_mw: float | None = None,
        soc_percent: float = 50.0,
        vm_pu: float = 1.0,
    ) -> None:
        self.rating = rating
        self.available_p_mw = rating.p_rated_mw if available_p_mw is None else available_p_mw
        self.soc_percent = soc_percent if rating.kind == "battery" else None
        self.vm_pu = vm_pu
        self.p_mw = 0.0
        self.q_mvar = 0.0
        self.power_limit_percent = 100.0
        self.power_limit_enabled = False
        self.pf = 1.0
        self.pf_enabled = False
        self.pf_absorbing = False
        self.var_mvar = 0.0
        self.var_enabled = False
        self.p_setpoint_mw = 0.0
        self.faulted = False
        self._frozen: dict[str, float | bool | None] | None = None

    def _check(self) -> None:
        if self.faulted:
            raise DeviceFaultError("device failed: commands are refused until the fault clears")

    def set_power_limit(self, percent: float, enabled: bool) -> None:
        """IEEE 1547 active-power limit [% of ``p_rated_mw``], 0..100, and its enable."""
        self._check()
        if not math.isfinite(percent) or not 0 <= percent <= 100:
            raise ValueError(f"power limit {percent!r} % is outside [0, 100] %")
        self.power_limit_percent, self.power_limit_enabled = float(percent), bool(enabled)

    def set_power_factor(self, pf: float, enabled: bool, absorbing: bool) -> None:
        """Constant power factor ``pf`` (0, 1], injecting or ``absorbing`` reactive power."""
        self._check()
        if not math.isfinite(pf) or not 0 < abs(pf) <= 1:
            raise ValueError(f"power factor {pf!r} is outside (0, 1]")
        self.pf, self.pf_enabled, self.pf_absorbing = abs(pf), bool(enabled), bool(absorbing)

    def set_var(self, q_mvar: float, enabled: bool) -> None:
        """Constant reactive power [MVAr] within +-``q_max_mvar``."""
        self._check()
        if not math.isfinite(q_mvar) or abs(q_mvar) > self.rating.q_max_mvar + 1e-12:
            raise ValueError(
                f"var set-point {q_mvar!r} MVAr is outside +-{self.rating.q_max_mvar} MVAr"
            )
        self.var_mvar, self.var_enabled = float(q_mvar), bool(enabled)

    def set_p_setpoint(self, p_mw: float) -> None:
        """A battery's active-power set-point [MW] (charging negative)."""
        self._check()
        if self.rating.kind != "battery":
            raise ValueError("a P set-point is for a battery; a PV inverter takes a power limit")
        if not math.isfinite(p_mw) or abs(p_mw) > self.rating.p_rated_mw + 1e-12:
            raise ValueError(f"P set-point {p_mw!r} MW is outside +-{self.rating.p_rated_mw} MW")
        self.p_setpoint_mw = float(p_mw)

    def fail(self) -> None:
        """Fault the device: output to zero, commands refused."""
        self.faulted = True

    def clear_fault(self) -> None:
        """Clear the fault."""
        self.faulted = False

    def freeze(self) -> None:
        """Keep reporting the present values while the state moves on."""
        self._frozen = self._now()

    def unfreeze(self) -> None:
        """Report live values again."""
        self._frozen = None

    def _limit_mw(self) -> float:
        if not self.power_limit_enabled:
            return self.rating.p_rated_mw
        return self.rating.p_rated_mw * self.power_limit_percent / 100.0

    def _target_mw(self) -> float:
        if self.faulted:
            return 0.0
        rating = self.rating
        if rating.kind == "pv":
            return max(0.0, min(self.available_p_mw, self._limit_mw(), rating.p_rated_mw))
        p = max(-rating.p_rated_mw, min(self.p_setpoint_mw, rating.p_rated_mw))
        p = min(p, self._limit_mw()) if p > 0 else p
        assert self.soc_percent is not None
        if p > 0 and self.soc_percent <= rating.soc_min_percent:
            return 0.0
        if p < 0 and self.soc_percent >= rating.soc_max_percent:
            return 0.0
        return p

    def _q_mvar(self, p_mw: float) -> float:
        if self.faulted:
            return 0.0
        if self.pf_enabled:
            q = abs(p_mw) * math.tan(math.acos(self.pf))
            q = -q if self.pf_absorbing else q
        elif self.var_enabled:
            q = self.var_mvar
        else:
            q = 0.0
        q = max(-self.rating.q_max_mvar, min(q, self.rating.q_max_mvar))
        room = math.sqrt(max(0.0, self.rating.s_rated_mva**2 - p_mw**2))
        return max(-room, min(q, room))

    def step(self, dt_s: float) -> None:
        """Advance by ``dt_s`` [s]: ramp P, follow Q, integrate the state of charge."""
        if not math.isfinite(dt_s) or dt_s < 0:
            raise ValueError(f"step {dt_s!r} s must be >= 0")
        rating = self.rating
        target = self._target_mw()
        if self.faulted:
            self.p_mw = 0.0  # a trip is not ramped
        else:
            most = rating.ramp_percent_per_s / 100.0 * rating.p_rated_mw * dt_s
            self.p_mw += max(-most, min(target - self.p_mw, most))
        if self.soc_percent is not None:
            assert rating.e_rated_mwh is not None
            energy_mwh = self.p_mw * dt_s / 3600.0
            soc = self.soc_percent - 100.0 * energy_mwh / rating.e_rated_mwh
            self.soc_percent = max(0.0, min(100.0, soc))
        self.q_mvar = self._q_mvar(self.p_mw)

    def _now(self) -> dict[str, float | bool | None]:
        return {
            "p_mw": self.p_mw,
            "q_mvar": self.q_mvar,
            "vm_pu": self.vm_pu,
            "soc_percent": self.soc_percent,
            "power_limit_percent": self.power_limit_percent,
            "power_limit_enabled": self.power_limit_enabled,
            "pf": self.pf,
            "pf_enabled": self.pf_enabled,
            "var_mvar": self.var_mvar,
            "var_enabled": self.var_enabled,
        }

    def measurements(self) -> dict[str, float | bool | None]:
        """What the device reports (frozen values while frozen)."""
        return dict(self._frozen) if self._frozen is not None else self._now()


__all__ = ["DerDevice", "DeviceFaultError", "DeviceRating"]
