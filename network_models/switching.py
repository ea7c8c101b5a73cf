"""Opening and closing a switch of a pandapower feeder in place."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from network_models.errors import SwitchingError, UnknownElementError
from network_models.graph import is_int_id

__all__ = ["set_switch_state"]


def _describe_ids(index: pd.Index) -> str:
    """Short description of a switch index for error messages."""
    if len(index) == 0:
        return "net has no switches"
    ids = sorted(int(i) for i in index)
    contiguous = ids[-1] - ids[0] + 1 == len(ids)
    gaps = "" if contiguous else ", with gaps"
    noun = "switch" if len(ids) == 1 else "switches"
    return f"net has {len(ids)} {noun}: ids {ids[0]}..{ids[-1]}{gaps}"


def set_switch_state(net: Any, switch_id: int, closed: bool) -> bool:
    """Open or close a switch in place.

    Parameters
    ----------
    net : pandapowerNet
        The feeder model; ``net.switch.at[switch_id, "closed"]`` is modified.
    switch_id : int
        Index of the switch in ``net.switch``.
    closed : bool
        Requested state: ``True`` closes, ``False`` opens the switch.

    Returns
    -------
    bool
        Previous state of the switch (``True`` if it was closed).

    Raises
    ------
    UnknownElementError
        If ``switch_id`` is not an integer (``bool`` is rejected) or no such switch exists.
    SwitchingError
        If the switch is already in the requested state.
    TypeError
        If ``closed`` is not a boolean.
    """
    if not isinstance(closed, bool | np.bool_):
        raise TypeError(f"closed must be a bool, got {closed!r} ({type(closed).__name__})")
    switches = net["switch"]
    if not is_int_id(switch_id):
        raise UnknownElementError(
            f"switch {switch_id!r} does not exist: switch ids are integers, got "
            f"{type(switch_id).__name__} ({_describe_ids(switches.index)})"
        )
    sid = int(switch_id)
    if sid not in switches.index:
        raise UnknownElementError(f"switch {sid} does not exist ({_describe_ids(switches.index)})")
    previous = bool(switches.at[sid, "closed"])
    wanted = bool(closed)
    if previous == wanted:
        name = switches.at[sid, "name"] if "name" in switches.columns else None
        label = f" ({name!r})" if isinstance(name, str) and name else ""
        raise SwitchingError(f"switch {sid}{label} is already {'closed' if wanted else 'open'}")
    switches.at[sid, "closed"] = wanted
    return previous
