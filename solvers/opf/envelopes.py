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
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from scipy import sparse
from scipy.sparse.linalg import splu

from solvers.acmodel import AcModel
from solvers.cancel import each
from solvers.opf.network import source_zones

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
    buses = np.unique(der_row)
    lower = np.full(p_mw.shape, -UNBOUNDED_MW)
    upper = np.full(p_mw.shape, UNBOUNDED_MW)
    zones = _zones(model, buses, current_limit_pu)
    column = np.searchsorted(buses, der_row)
    for t in each(range(n_t), "computing the envelopes"):
        v = voltages[t]
        vm = np.abs(v)
        d_vm, d_va = dSbus_dV(model.ybus, v)
        d_vm, d_va = sparse.csr_matrix(d_vm), sparse.csr_matrix(d_va)
        up = np.full(len(buses), np.inf)
        down = np.full(len(buses), np.inf)
        # slack buses hold their voltage: the Jacobian is block-diagonal by zone
        for rows, cols, branches, limited in zones:
            n = len(rows)
            jacobian = sparse.bmat(
                [
                    [d_va.real[rows][:, rows], d_vm.real[rows][:, rows]],
                    [d_va.imag[rows][:, rows], d_vm.imag[rows][:, rows]],
                ],
                format="csc",
            )
            rhs = np.zeros((2 * n, len(cols)))
            rhs[np.searchsorted(rows, buses[cols]), np.arange(len(cols))] = 1.0 / model.base_mva
            solution = splu(jacobian).solve(rhs)
            d_theta, d_vmag = solution[:n], solution[n:]
            z_up, z_down = _headroom(vm[rows[limited]], d_vmag[limited], vm_min_pu, vm_max_pu)
            d_voltage = 1j * v[rows, None] * d_theta + (v[rows] / vm[rows])[:, None] * d_vmag
            for admittance in (model.yf[branches], model.yt[branches]):
                current = admittance @ v
                magnitude = np.abs(current)
                unit = np.where(
                    magnitude > 1e-9, np.conj(current) / np.maximum(magnitude, 1e-12), 1.0
                )
                d_current = np.real(unit[:, None] * (admittance[:, rows] @ d_voltage))
                c_up, c_down = _headroom(magnitude, d_current, -np.inf, current_limit_pu[branches])
                z_up, z_down = np.minimum(z_up, c_up), np.minimum(z_down, c_down)
            up[cols], down[cols] = z_up, z_down
        upper[:, t] = p_mw[:, t] + np.minimum(up[column], UNBOUNDED_MW)
        lower[:, t] = p_mw[:, t] - np.minimum(down[column], UNBOUNDED_MW)
    return lower, upper


def _zones(
    model: AcModel, buses: np.ndarray, current_limit_pu: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The network between its sources, split into zones that share no bus but a slack.

    Slack buses hold their voltage, so an injection in one zone moves nothing in another.
    Returns per zone with DERs: its bus rows (sorted, slack excluded; internal buses of the
    model included), the positions in ``buses`` of its DER buses, its rated branch rows, and
    which of its rows are feeder buses (their voltages are limited).
    """
    n = model.n_bus
    label = source_zones(model)
    energized = np.zeros(n, dtype=bool)
    energized[model.bus_rows] = True
    from_bus = model.branch[:, F_BUS].real.astype(np.int64)
    to_bus = model.branch[:, T_BUS].real.astype(np.int64)
    branch_zone = np.where(label[from_bus] >= 0, label[from_bus], label[to_bus])
    rated = np.isfinite(current_limit_pu)
    zones = []
    for zone in np.unique(label[buses[label[buses] >= 0]]):
        rows = np.flatnonzero(label == zone)
        cols = np.flatnonzero(label[buses] == zone)
        branches = np.flatnonzero((branch_zone == zone) & rated)
        zones.append((rows, cols, branches, energized[rows]))
    return zones


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
