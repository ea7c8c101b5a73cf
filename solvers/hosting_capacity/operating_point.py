"""Operating points at which hosting capacity is evaluated (the state of existing loads/DERs).

The worst case for new **generation** is minimum load with maximum generation of the existing
DERs; for new **load** it is maximum load with no generation. With profiles (SimBench feeders),
every element takes its own extreme over the profile horizon (a conservative, non-coincident
envelope: element-wise minimum or maximum, reactive load at the step of the active extreme).
Without profiles the model's set-points are the maxima: loads at ``min_load_share`` (default
:data:`MIN_LOAD_SHARE`) of their set-point for the generation case, at 100 % for the load case;
static generators at their set-point for the generation case, off for the load case. Storage is
idle in both. ``min_load_share`` does not apply to loads with a profile: the profiles give
their operating point.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandapower as pp
import pandas as pd

from network_models.feeder import Feeder

Mode = Literal["gen", "load"]
MODES: tuple[Mode, ...] = ("gen", "load")

#: share of their set-point at which loads stand in the generation worst case without
#: profiles [-] (a common planning assumption for the minimum daytime load)
MIN_LOAD_SHARE = 0.25
#: how a hosting-capacity mode is named in operating-point descriptions
MODE_LABELS: dict[str, str] = {"gen": "generation HC", "load": "load HC"}


def check_min_load_share(min_load_share: float, name: str = "min_load_share") -> float:
    """``min_load_share`` as a float, validated.

    Parameters
    ----------
    min_load_share : float
        Share of their set-points at which loads stand in the generation case [-].
    name : str
        How the value is named in the error (``"--min-load-share"`` on the command line).

    Raises
    ------
    ValueError
        Not a finite number within [0, 1] (NaN, infinity, a bool, out of range).
    """
    if isinstance(min_load_share, bool) or not isinstance(min_load_share, int | float):
        raise ValueError(f"{name} must be a finite number within [0, 1], got {min_load_share!r}")
    value = float(min_load_share)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a finite number within [0, 1], got {min_load_share}")
    return value


def percent(share: float) -> str:
    """``0.25`` as ``"25 %"``."""
    return f"{share * 100:g} %"


def load_share_applies(feeder: Feeder) -> bool:
    """Whether ``min_load_share`` sets the loads of the generation case (no load profile)."""
    return feeder.profiles is None or ("load", "p_mw") not in feeder.profiles.values


def profile_window(feeder: Feeder, steps: range) -> str:
    """Profile steps ``steps`` in words: ``"steps 16512..16607 (2016-06-21 00:00 ..
    2016-06-21 23:45)"``."""
    if feeder.profiles is None:
        raise ValueError(f"feeder '{feeder.name}' has no profiles")
    step = pd.Timedelta(minutes=feeder.profiles.step_minutes)
    first = feeder.profiles.start + steps.start * step
    last = feeder.profiles.start + (steps.stop - 1) * step
    return (
        f"steps {steps.start}..{steps.stop - 1} ({first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M})"
    )


def describe_load_levels(
    feeder: Feeder, modes: Sequence[Mode], min_load_share: float = MIN_LOAD_SHARE
) -> str:
    """The loads of the worst-case operating points of ``modes`` in one line, e.g. ``"loads at
    25 % of their set-points (generation HC), 100 % (load HC)"``; for a feeder with load
    profiles, the profile steps whose extremes are taken (``min_load_share`` does not apply).
    """
    if load_share_applies(feeder):
        shares = {"gen": min_load_share, "load": 1.0}
        parts = [f"{percent(shares[mode])} ({MODE_LABELS[mode]})" for mode in modes]
        text = "loads at " + parts[0].replace(" (", " of their set-points (", 1)
        text += "".join(f", {part}" for part in parts[1:])
        if "gen" not in modes:
            text += f"; min_load_share ({percent(min_load_share)}) applies to generation HC only"
        return text
    assert feeder.profiles is not None
    extremes = {"gen": "minimum", "load": "maximum"}
    parts = [f"{extremes[mode]} ({MODE_LABELS[mode]})" for mode in modes]
    window = profile_window(feeder, range(feeder.profiles.n_steps))
    return (
        f"each load at its {', '.join(parts)} over the profile {window}; min_load_share does "
        f"not apply (the profiles give the operating point)"
    )


@dataclass(frozen=True)
class OperatingPoint:
    """Absolute set-points of existing loads and DERs.

    Attributes
    ----------
    name : str
        Short label (e.g. ``"gen worst case"`` or ``"step 17012"``).
    description : str
        How the values were chosen, for reports.
    values : Mapping[tuple[str, str], pandas.Series]
        ``(element, column) -> Series`` over element ids [MW or MVAr]; elements not named keep
        their model value.
    """

    name: str
    description: str
    values: Mapping[tuple[str, str], pd.Series]

    def apply(self, net: pp.pandapowerNet) -> pp.pandapowerNet:
        """A deep copy of ``net`` with these set-points written into its element tables."""
        result = copy.deepcopy(net)
        for (element, column), series in self.values.items():
            result[element].loc[series.index, column] = series.to_numpy(dtype=float)
        return result

    def frames(self) -> dict[tuple[str, str], pd.DataFrame]:
        """The values as one-row frames, the input of :func:`solvers.acmodel.injection_delta`."""
        return {
            key: pd.DataFrame(series.to_numpy(dtype=float)[np.newaxis, :], columns=series.index)
            for key, series in self.values.items()
        }


def _at_extreme(
    p: pd.DataFrame, q: pd.DataFrame | None, *, lowest: bool
) -> tuple[pd.Series, pd.Series | None]:
    data = p.to_numpy(dtype=float)
    rows = data.argmin(axis=0) if lowest else data.argmax(axis=0)
    columns = np.arange(data.shape[1])
    p_values = pd.Series(data[rows, columns], index=p.columns)
    if q is None:
        return p_values, None
    q_data = q.reindex(columns=p.columns).to_numpy(dtype=float)
    return p_values, pd.Series(q_data[rows, columns], index=p.columns)


def worst_case(
    feeder: Feeder, mode: Mode, *, min_load_share: float = MIN_LOAD_SHARE
) -> OperatingPoint:
    """The worst-case operating point for new generation (``"gen"``) or new load (``"load"``).

    Parameters
    ----------
    feeder : Feeder
        The feeder; its profiles are used when it has them.
    mode : {"gen", "load"}
        Which hosting capacity the point is for.
    min_load_share : float
        Load share of the set-point in the generation case of a feeder without load
        profiles [-], in [0, 1] (see :func:`check_min_load_share`).
    """
    if mode not in MODES:
        raise ValueError(f"unknown hosting-capacity mode '{mode}'; use 'gen' or 'load'")
    min_load_share = check_min_load_share(min_load_share)
    net = feeder.net
    values: dict[tuple[str, str], pd.Series] = {}
    profiles = feeder.profiles.values if feeder.profiles is not None else {}
    gen = mode == "gen"
    if ("load", "p_mw") in profiles:
        p, q = _at_extreme(profiles[("load", "p_mw")], profiles.get(("load", "q_mvar")), lowest=gen)
        values[("load", "p_mw")] = p
        if q is not None:
            values[("load", "q_mvar")] = q
        load_text = "each load at its " + ("minimum" if gen else "maximum") + " over the profiles"
    else:
        share = min_load_share if gen else 1.0
        values[("load", "p_mw")] = net.load.p_mw.astype(float) * share
        values[("load", "q_mvar")] = net.load.q_mvar.astype(float) * share
        load_text = f"loads at {percent(share)} of their set-points"
    if len(net.sgen):
        if ("sgen", "p_mw") in profiles:
            frame = profiles[("sgen", "p_mw")].to_numpy(dtype=float)
            extreme = frame.max(axis=0) if gen else frame.min(axis=0)
            values[("sgen", "p_mw")] = pd.Series(extreme, index=profiles[("sgen", "p_mw")].columns)
            extreme_text = "maximum" if gen else "minimum"
            sgen_text = f"each DER at its {extreme_text} over the profiles"
        else:
            values[("sgen", "p_mw")] = net.sgen.p_mw.astype(float) * (1.0 if gen else 0.0)
            sgen_text = "DERs at their set-points" if gen else "DERs off"
    else:
        sgen_text = "no DERs"
    if len(net.storage):
        values[("storage", "p_mw")] = pd.Series(0.0, index=net.storage.index)
        sgen_text += ", storage idle"
    label = "minimum load, maximum generation" if gen else "maximum load, no generation"
    return OperatingPoint(
        name=f"{mode} worst case", description=f"{label}: {load_text}; {sgen_text}", values=values
    )


def profile_step(feeder: Feeder, step: int) -> OperatingPoint:
    """The set-points of profile step ``step`` (storage idle)."""
    if feeder.profiles is None:
        raise ValueError(f"feeder '{feeder.name}' has no profiles")
    if not 0 <= step < feeder.profiles.n_steps:
        raise ValueError(f"step {step} is outside the profiles (0..{feeder.profiles.n_steps - 1})")
    values = {key: frame.iloc[step] for key, frame in feeder.profiles.values.items()}
    if len(feeder.net.storage):
        values[("storage", "p_mw")] = pd.Series(0.0, index=feeder.net.storage.index)
    return OperatingPoint(f"step {step}", f"profile step {step}", values)
