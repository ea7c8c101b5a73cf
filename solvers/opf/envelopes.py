"""Dynamic operating envelopes: per DER and period, the active-power range [MW] the network
can take at the DER's connection point while every other DER keeps its schedule.

Computed from power-flow sensitivities at the AC operating point of each period: one sparse
factorisation of the Jacobian per period, solved for every DER bus at once. A change ``dp`` at
bus ``b`` (reactive power at its scheduled value) moves every bus voltage by ``dvm/dp`` and
every branch current by ``d|I|/dp``; the envelope is the largest move each way that keeps all
voltages within the band and all currents within their ratings. Linear, so it is exact for
small moves and indicative for large ones; the dispatch itself is always AC-verified.
"""

from __future__ import annotations

import numpy as np
from pandapower.pypower.dSbus_dV import dSbus_dV
from scipy import sparse
from scipy.sparse.linalg import splu

from solvers.acmodel import AcModel

#: envelope edge reported where no network limit binds [MW]
UNBOUNDED_MW = 1e3


def operating_envelopes(
    model: AcModel,
    voltages: np.ndarray,
    der_row: np.ndarray,
    p_mw: np.ndarray,
    vm_min_pu: float,
    vm_max_pu: float,
    current_limit_pu: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper envelope of each DER per period [MW] (DER x period).

    Parameters
    ----------
    model : AcModel
    voltages : numpy.ndarray
        AC bus voltages of the dispatched schedule per period (periods x buses) [pu, complex].
    der_row : numpy.ndarray
        Model bus row of each DER.
    p_mw : numpy.ndarray
        Scheduled active power per DER and period [MW] (generation positive).
    vm_min_pu, vm_max_pu : float
        Voltage band [pu].
    current_limit_pu : numpy.ndarray
        Current limit per AC-model branch row [pu at nominal voltage] (inf: none).
    """
    n_t = voltages.shape[0]
    slack = np.zeros(model.n_bus, dtype=bool)
    slack[model.ref] = True
    free = np.flatnonzero(~slack)
    position = np.full(model.n_bus, -1)
    position[free] = np.arange(len(free))
    buses = np.unique(der_row)
    lower = np.full(p_mw.shape, -UNBOUNDED_MW)
    upper = np.full(p_mw.shape, UNBOUNDED_MW)
    energized = model.bus_rows
    for t in range(n_t):
        v = voltages[t]
        d_vm, d_va = dSbus_dV(model.ybus, v)
        jacobian = sparse.bmat(
            [
                [d_va.real[free][:, free], d_vm.real[free][:, free]],
                [d_va.imag[free][:, free], d_vm.imag[free][:, free]],
            ],
            format="csc",
        )
        rhs = np.zeros((2 * len(free), len(buses)))
        at_free = position[buses] >= 0
        rhs[position[buses[at_free]], np.flatnonzero(at_free)] = 1.0 / model.base_mva
        solution = splu(jacobian).solve(rhs) if len(free) else rhs
        d_theta = np.zeros((model.n_bus, len(buses)))
        d_vmag = np.zeros((model.n_bus, len(buses)))
        d_theta[free] = solution[: len(free)]
        d_vmag[free] = solution[len(free) :]
        vm = np.abs(v)
        up, down = _headroom(vm[energized], d_vmag[energized], vm_min_pu, vm_max_pu)
        for admittance in (model.yf, model.yt):
            current = admittance @ v
            magnitude = np.abs(current)
            unit = np.where(magnitude > 1e-9, np.conj(current) / np.maximum(magnitude, 1e-12), 1.0)
            d_current = np.real(
                unit[:, None]
                * (admittance @ (1j * v[:, None] * d_theta + (v / vm)[:, None] * d_vmag))
            )
            rated = np.isfinite(current_limit_pu)
            c_up, c_down = _headroom(
                magnitude[rated], d_current[rated], -np.inf, current_limit_pu[rated]
            )
            up, down = np.minimum(up, c_up), np.minimum(down, c_down)
        column = np.searchsorted(buses, der_row)
        upper[:, t] = p_mw[:, t] + np.minimum(up[column], UNBOUNDED_MW)
        lower[:, t] = p_mw[:, t] - np.minimum(down[column], UNBOUNDED_MW)
    return lower, upper


def _headroom(
    value: np.ndarray, sensitivity: np.ndarray, low: float, high: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Largest increase and decrease [MW] of each column's injection before a row hits a limit.

    ``value`` (rows) moves by ``sensitivity`` (rows x columns) per MW.
    """
    high_col = np.broadcast_to(np.asarray(high, float), value.shape)[:, None]
    room_high = np.maximum(high_col - value[:, None], 0.0)
    room_low = np.maximum(value[:, None] - low, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where(sensitivity > 1e-12, room_high / sensitivity, np.inf)
        falling = np.where(sensitivity < -1e-12, room_low / -sensitivity, np.inf)
        # a decrease of injection moves every row the other way
        rising_down = np.where(sensitivity < -1e-12, room_high / -sensitivity, np.inf)
        falling_down = np.where(sensitivity > 1e-12, room_low / sensitivity, np.inf)
    up = (
        np.minimum(rising, falling).min(axis=0)
        if len(value)
        else np.full(sensitivity.shape[1], np.inf)
    )
    down = (
        np.minimum(rising_down, falling_down).min(axis=0)
        if len(value)
        else np.full(sensitivity.shape[1], np.inf)
    )
    return up, down
