"""Load and generation profiles of a feeder (time series of element set-points).

Profiles are absolute values in the element's own column unit: ``("load", "p_mw")`` holds the
active power of every load per step [MW]; ``("sgen", "p_mw")`` the generation of every static
generator [MW]; ``("storage", "p_mw")`` the storage power [MW] (pandapower sign: charging > 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: element/column pairs a time-series power flow knows how to apply
PROFILE_KEYS: tuple[tuple[str, str], ...] = (
    ("load", "p_mw"),
    ("load", "q_mvar"),
    ("sgen", "p_mw"),
    ("sgen", "q_mvar"),
    ("storage", "p_mw"),
    ("storage", "q_mvar"),
)


@dataclass(frozen=True)
class FeederProfiles:
    """Per-step set-points of a feeder's loads, generators and storage.

    Attributes
    ----------
    values : Mapping[tuple[str, str], pandas.DataFrame]
        ``(element, column) -> DataFrame`` with one row per step and one column per element id.
    step_minutes : int
        Length of one step [min].
    start : pandas.Timestamp
        Time stamp of step 0.
    """

    values: Mapping[tuple[str, str], pd.DataFrame]
    step_minutes: int = 15
    start: pd.Timestamp = field(default_factory=lambda: pd.Timestamp("2016-01-01 00:00"))

    def __post_init__(self) -> None:
        lengths = {len(frame) for frame in self.values.values()}
        if len(lengths) > 1:
            raise ValueError(f"profiles have different numbers of steps: {sorted(lengths)}")
        for key, frame in self.values.items():
            if key not in PROFILE_KEYS:
                raise ValueError(f"unsupported profile {key}; supported: {PROFILE_KEYS}")
            data = frame.to_numpy(dtype=float)
            if data.size and not np.isfinite(data).all():
                row, col = np.argwhere(~np.isfinite(data))[0]
                raise ValueError(
                    f"profile {key[0]}.{key[1]} has a non-finite value at step {row} "
                    f"for {key[0]} {frame.columns[col]}"
                )

    @property
    def n_steps(self) -> int:
        """Number of steps in the profiles."""
        return next((len(frame) for frame in self.values.values()), 0)

    def save_npz(self, path: Path) -> None:
        """Write the profiles to a compressed ``.npz`` file."""
        arrays: dict[str, np.ndarray] = {
            "meta": np.array([self.step_minutes, self.start.value], dtype=np.int64)
        }
        for (element, column), frame in self.values.items():
            arrays[f"{element}|{column}|values"] = frame.to_numpy(dtype=np.float32)
            arrays[f"{element}|{column}|ids"] = frame.columns.to_numpy(dtype=np.int64)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load_npz(cls, path: Path) -> FeederProfiles:
        """Read profiles written by :meth:`save_npz`."""
        with np.load(path) as data:
            step_minutes, start_ns = (int(v) for v in data["meta"])
            values: dict[tuple[str, str], pd.DataFrame] = {}
            for name in data.files:
                if name.endswith("|values"):
                    element, column, _ = name.split("|")
                    values[(element, column)] = pd.DataFrame(
                        data[name].astype(float), columns=data[f"{element}|{column}|ids"]
                    )
        return cls(values=values, step_minutes=step_minutes, start=pd.Timestamp(start_ns))


def daily_load_profiles(
    load: pd.DataFrame, steps: int, *, low: float = 0.6, peak: float = 1.2
) -> FeederProfiles:
    """Profiles that scale every load by one smooth daily shape (for feeders without profiles).

    The factor rises from ``low`` through ``peak`` (at mid-horizon) back to ``low`` over
    ``steps`` steps: ``low + (peak - low) * sin(pi * t)``, t in [0, 1].

    Parameters
    ----------
    load : pandas.DataFrame
        The net's load table (``p_mw`` [MW] and ``q_mvar`` [MVAr] are the base values).
    steps : int
        Number of steps.
    low, peak : float
        Lowest and highest scaling factor [-].
    """
    shape = low + (peak - low) * np.sin(np.linspace(0.0, np.pi, steps))
    return FeederProfiles(
        values={
            (("load", column)): pd.DataFrame(
                np.outer(shape, load[column].to_numpy(dtype=float)), columns=load.index
            )
            for column in ("p_mw", "q_mvar")
        }
    )
