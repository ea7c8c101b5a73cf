"""Static versus managed hosting capacity: what a curtailable DER gains under DERMS control.

A new PV of size ``S`` at a bus produces ``S * shape_t`` (the feeder's PV profile shape,
normalised to 1 at its peak). Under a flexible connection the DERMS curtails it to the bus's
hosting capacity of that step, so it loses ``max(0, S * shape_t - HC_t)``. The managed hosting
capacity is the largest ``S`` whose curtailed energy stays within a share of its available
energy; the static one is the firm figure ``min_t HC_t`` (no curtailment ever). The curtailed
share grows monotonically with ``S``, so bisection finds the largest ``S`` to 0.1 % (or 1 W).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from network_models.feeder import Feeder


def pv_shape(feeder: Feeder, steps: range) -> np.ndarray:
    """PV output per step over ``steps``, normalised to 1 at its peak [-].

    The sum of the profiles of the static generators whose ``type`` names PV (all static
    generators when none does).

    Raises
    ------
    ValueError
        The feeder has no generation profile or it is zero over ``steps``.
    """
    profiles = feeder.profiles.values if feeder.profiles is not None else {}
    frame = profiles.get(("sgen", "p_mw"))
    if frame is None or not frame.shape[1]:
        raise ValueError(f"feeder '{feeder.name}' has no generation profile for a PV shape")
    types = feeder.net.sgen.get("type", pd.Series("", index=feeder.net.sgen.index))
    is_pv = types.reindex(frame.columns).astype(str).str.contains("pv", case=False).to_numpy()
    chosen = frame.iloc[steps.start : steps.stop, is_pv if is_pv.any() else slice(None)]
    total = chosen.to_numpy(dtype=float).sum(axis=1)
    if total.max() <= 0:
        raise ValueError("the PV profile is zero over the chosen steps")
    return np.asarray(total / total.max())


def curtailed_share(size_mw: float, shape: np.ndarray, hc_mw: np.ndarray) -> float:
    """Curtailed share of the available energy of a DER of ``size_mw`` [-]."""
    available = size_mw * shape
    total = float(available.sum())
    return float(np.maximum(available - hc_mw, 0.0).sum() / total) if total > 0 else 0.0


def managed_hosting_capacity(
    hc_per_step_mw: pd.DataFrame, shape: np.ndarray, max_share: float
) -> pd.DataFrame:
    """Static and managed hosting capacity per bus.

    Parameters
    ----------
    hc_per_step_mw : pandas.DataFrame
        Steps x buses: generation hosting capacity per step [MW].
    shape : numpy.ndarray
        PV shape per step [-] (peak 1).
    max_share : float
        Largest curtailed share of the DER's available energy [-], e.g. 0.05.

    Returns
    -------
    pandas.DataFrame
        Per bus: ``static_hc_mw`` (``min_t HC_t``), ``managed_hc_mw``, ``gain_mw``,
        ``curtailed_share`` at the managed size.
    """
    if not 0.0 <= max_share < 1.0:
        raise ValueError(f"curtailment share must be within [0, 1), got {max_share}")
    if len(shape) != len(hc_per_step_mw):
        raise ValueError("the PV shape and the hosting-capacity series differ in length")
    rows = []
    for bus in hc_per_step_mw.columns:
        hc = hc_per_step_mw[bus].to_numpy(dtype=float)
        static = float(hc.min())
        lo = static
        hi = max(static, 1e-6) * 2.0
        while curtailed_share(hi, shape, hc) <= max_share and hi < 1e6:
            lo, hi = hi, hi * 2.0
        while hi - lo > max(1e-3 * hi, 1e-6):  # 0.1 % or 1 W
            mid = 0.5 * (lo + hi)
            if curtailed_share(mid, shape, hc) <= max_share:
                lo = mid
            else:
                hi = mid
        rows.append(
            {
                "bus": bus,
                "static_hc_mw": static,
                "managed_hc_mw": lo,
                "gain_mw": lo - static,
                "curtailed_share": curtailed_share(lo, shape, hc),
            }
        )
    return pd.DataFrame(rows).set_index("bus")
