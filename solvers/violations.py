"""Limit violations found in power-flow results (:class:`~solvers.limits.LimitBreach`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from solvers.limits import LimitBreach, OperatingLimits


def find_violations(
    vm_pu: pd.Series,
    loading_percent: dict[str, pd.Series],
    limits: OperatingLimits,
    step: int | None = None,
) -> list[LimitBreach]:
    """Compare bus voltages and branch loadings with ``limits``.

    Parameters
    ----------
    vm_pu : pandas.Series
        Voltage magnitude per energized bus [pu]; NaN (de-energized) entries are skipped, the
        caller reports de-energized buses separately.
    loading_percent : dict of str to pandas.Series
        Loading per branch [%], keyed by element table.
    limits : OperatingLimits
    step : int, optional
        Time-series step to tag the violations with.
    """
    found: list[LimitBreach] = []
    values = vm_pu.to_numpy(dtype=float)
    for limit, outside, bound in (
        ("voltage_max", values > limits.vm_max_pu, limits.vm_max_pu),
        ("voltage_min", values < limits.vm_min_pu, limits.vm_min_pu),
    ):
        for element_id, value in zip(vm_pu.index[outside], values[outside], strict=True):
            found.append(
                LimitBreach(limit, "bus", int(element_id), "pu", float(value), bound, step)
            )
    for element, loading in loading_percent.items():
        load = loading.to_numpy(dtype=float)
        over = np.nan_to_num(load, nan=0.0) > limits.max_loading_percent
        for element_id, value in zip(loading.index[over], load[over], strict=True):
            found.append(
                LimitBreach(
                    "thermal",
                    element,
                    int(element_id),
                    "%",
                    float(value),
                    limits.max_loading_percent,
                    step,
                )
            )
    return found
