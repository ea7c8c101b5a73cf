"""The switch-aware topology graph of a pandapower feeder (networkx).

:func:`build_graph` turns the element tables into a :class:`networkx.MultiGraph`;
:func:`source_buses` names the buses that supply it; :func:`in_service_buses` the nodes. The
analysis of the graph (islands, tracing from the sources, meshes) is in
:mod:`network_models.connectivity`, the topology object that caches it in
:mod:`network_models.topology`.

Graph model
-----------
* **Nodes** are the indices (``int``) of the in-service buses of ``net.bus``.
* **Edges** carry the attributes ``element`` (one of :data:`EDGE_ELEMENTS`) and ``element_id``
  (the pandapower index, ``int``):

  - in-service ``line``, ``trafo`` and ``impedance`` elements: one edge between their two buses;
  - in-service ``trafo3w`` elements: a *star centred on the HV bus*, i.e. the edges hv-mv and
    hv-lv.  This keeps a three-winding transformer from showing up as a spurious mesh (a
    triangle hv-mv-lv would) and adds no artificial star-point node.  A winding whose terminal
    switch (``et == "t3"``) is open is disconnected from the star point: an open MV (LV) switch
    drops the hv-mv (hv-lv) edge; an open HV switch drops both and, if MV and LV are both still
    closed, one mv-lv edge keeps the MV and LV sides connected to each other (as pandapower
    does);
  - closed bus-bus switches (``et == "b"``): one ``switch`` edge between ``bus`` and ``element``.

* A line (transformer) with an open ``et == "l"`` (``et == "t"``) switch at either end is not an
  edge.  Open bus-bus switches are not edges.  Out-of-service elements are not edges; edges that
  touch an out-of-service or non-existent bus are dropped, and so are self-loops (an element
  whose two ends are the same bus carries no topological information).
* Parallel elements between the same two buses are kept as parallel edges of the
  :class:`networkx.MultiGraph` (and count as a mesh).

Sources are the buses of in-service external grids and of in-service generators with
``slack=True`` (:func:`source_buses`).
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, TypeGuard

import networkx as nx
import numpy as np
import pandas as pd

__all__ = [
    "EDGE_ELEMENTS",
    "build_graph",
    "element_table",
    "in_service_buses",
    "in_service_mask",
    "is_int_id",
    "source_buses",
]

EDGE_ELEMENTS: tuple[str, ...] = ("line", "trafo", "trafo3w", "impedance", "switch")
"""Values of the ``element`` edge attribute."""

# --------------------------------------------------------------------------------------------
# Table helpers
# --------------------------------------------------------------------------------------------


def element_table(net: Any, name: str) -> pd.DataFrame | None:
    """Return ``net[name]`` if it is a non-empty DataFrame, else ``None``."""
    try:
        table = net[name]
    except (KeyError, AttributeError, TypeError):
        return None
    if not isinstance(table, pd.DataFrame) or table.empty:
        return None
    return table


def in_service_mask(table: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows with ``in_service`` true (all rows if the column is missing)."""
    if "in_service" not in table.columns:
        return np.ones(len(table), dtype=bool)
    return table["in_service"].eq(True).to_numpy(dtype=bool)


def _closed_mask(switches: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the closed switches (a missing state counts as closed)."""
    if "closed" not in switches.columns:
        return np.ones(len(switches), dtype=bool)
    return ~switches["closed"].eq(False).to_numpy(dtype=bool)


def _bus_column(table: pd.DataFrame, column: str) -> np.ndarray:
    """Bus references of ``column`` as float64 (``NaN`` where missing or not numeric)."""
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)


def is_int_id(value: object) -> TypeGuard[Integral]:
    """True for ``int`` / numpy integers, false for ``bool`` and anything else."""
    return isinstance(value, Integral) and not isinstance(value, bool | np.bool_)


# --------------------------------------------------------------------------------------------
# Graph construction
# --------------------------------------------------------------------------------------------


def _open_switch_elements(switches: pd.DataFrame | None, et: str) -> np.ndarray:
    """Element ids that have at least one open switch of type ``et``."""
    if switches is None:
        return np.empty(0, dtype=np.float64)
    mask = (switches["et"].to_numpy() == et) & ~_closed_mask(switches)
    return _bus_column(switches, "element")[mask]


def _two_terminal_edges(
    net: Any, name: str, from_col: str, to_col: str, switch_et: str | None
) -> list[tuple[np.ndarray, np.ndarray, str, np.ndarray]]:
    """Edge arrays ``(u, v, element, ids)`` of a two-terminal branch table."""
    table = element_table(net, name)
    if table is None:
        return []
    mask = in_service_mask(table)
    ids = table.index.to_numpy()
    if switch_et is not None:
        mask &= ~np.isin(ids, _open_switch_elements(element_table(net, "switch"), switch_et))
    u = _bus_column(table, from_col)[mask]
    v = _bus_column(table, to_col)[mask]
    return [(u, v, name, ids[mask])]


def _trafo3w_edges(net: Any) -> list[tuple[np.ndarray, np.ndarray, str, np.ndarray]]:
    """Edge arrays of the in-service three-winding transformers (HV-centred star)."""
    table = element_table(net, "trafo3w")
    if table is None:
        return []
    table = table[in_service_mask(table)]
    ids = table.index.to_numpy()
    hv = _bus_column(table, "hv_bus")
    mv = _bus_column(table, "mv_bus")
    lv = _bus_column(table, "lv_bus")
    switches = element_table(net, "switch")
    if switches is not None:
        mask = (switches["et"].to_numpy() == "t3") & ~_closed_mask(switches)
        open_pairs = pd.MultiIndex.from_arrays(
            [_bus_column(switches, "element")[mask], _bus_column(switches, "bus")[mask]]
        )
    else:
        open_pairs = pd.MultiIndex.from_arrays([np.empty(0), np.empty(0)])
    ids_f = ids.astype(np.float64)

    def winding_open(bus: np.ndarray) -> np.ndarray:
        return np.asarray(pd.MultiIndex.from_arrays([ids_f, bus]).isin(open_pairs), dtype=bool)

    hv_open, mv_open, lv_open = winding_open(hv), winding_open(mv), winding_open(lv)
    hv_mv = ~hv_open & ~mv_open
    hv_lv = ~hv_open & ~lv_open
    mv_lv = hv_open & ~mv_open & ~lv_open
    return [
        (hv[hv_mv], mv[hv_mv], "trafo3w", ids[hv_mv]),
        (hv[hv_lv], lv[hv_lv], "trafo3w", ids[hv_lv]),
        (mv[mv_lv], lv[mv_lv], "trafo3w", ids[mv_lv]),
    ]


def _bus_switch_edges(net: Any) -> list[tuple[np.ndarray, np.ndarray, str, np.ndarray]]:
    """Edge arrays of the closed bus-bus switches."""
    switches = element_table(net, "switch")
    if switches is None:
        return []
    mask = (switches["et"].to_numpy() == "b") & _closed_mask(switches)
    return [
        (
            _bus_column(switches, "bus")[mask],
            _bus_column(switches, "element")[mask],
            "switch",
            switches.index.to_numpy()[mask],
        )
    ]


def in_service_buses(net: Any) -> list[int]:
    """Indices of the in-service buses of ``net``.

    Parameters
    ----------
    net : pandapowerNet
        The feeder model.

    Returns
    -------
    list[int]
        Bus indices in ``net.bus`` order.
    """
    buses = element_table(net, "bus")
    if buses is None:
        return []
    return [int(b) for b in buses.index.to_numpy()[in_service_mask(buses)]]


def build_graph(net: Any) -> nx.MultiGraph:
    """Build the switch-aware topology graph of a pandapower net.

    See the module docstring for the exact graph model (which elements become edges, how
    switches, out-of-service elements and three-winding transformers are treated).

    Parameters
    ----------
    net : pandapowerNet
        The feeder model; it is not modified.

    Returns
    -------
    networkx.MultiGraph
        Nodes are in-service bus indices (``int``); every edge has the attributes ``element``
        (``"line"``, ``"trafo"``, ``"trafo3w"``, ``"impedance"`` or ``"switch"``) and
        ``element_id`` (``int`` pandapower index).
    """
    buses = in_service_buses(net)
    parts: list[tuple[np.ndarray, np.ndarray, str, np.ndarray]] = [
        *_two_terminal_edges(net, "line", "from_bus", "to_bus", "l"),
        *_two_terminal_edges(net, "trafo", "hv_bus", "lv_bus", "t"),
        *_trafo3w_edges(net),
        *_two_terminal_edges(net, "impedance", "from_bus", "to_bus", None),
        *_bus_switch_edges(net),
    ]
    graph = nx.MultiGraph()
    graph.add_nodes_from(buses)
    if not parts:
        return graph
    u = np.concatenate([p[0] for p in parts])
    v = np.concatenate([p[1] for p in parts])
    ids = np.concatenate([np.asarray(p[3], dtype=np.int64) for p in parts])
    elements = np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts])
    bus_array = np.asarray(buses, dtype=np.float64)
    keep = np.isin(u, bus_array) & np.isin(v, bus_array) & (u != v)
    graph.add_edges_from(
        (a, b, {"element": e, "element_id": i})
        for a, b, e, i in zip(
            u[keep].astype(np.int64).tolist(),
            v[keep].astype(np.int64).tolist(),
            elements[keep].tolist(),
            ids[keep].tolist(),
            strict=True,
        )
    )
    return graph


def source_buses(net: Any) -> tuple[int, ...]:
    """Buses that supply the feeder.

    Parameters
    ----------
    net : pandapowerNet
        The feeder model (read only).

    Returns
    -------
    tuple[int, ...]
        Sorted, unique buses of the in-service external grids and of the in-service generators
        with ``slack=True``.  Sources on out-of-service or non-existent buses are left out: they
        cannot energise anything.
    """
    candidates: list[np.ndarray] = []
    ext_grid = element_table(net, "ext_grid")
    if ext_grid is not None:
        candidates.append(_bus_column(ext_grid, "bus")[in_service_mask(ext_grid)])
    gen = element_table(net, "gen")
    if gen is not None and "slack" in gen.columns:
        mask = in_service_mask(gen) & gen["slack"].eq(True).to_numpy(dtype=bool)
        candidates.append(_bus_column(gen, "bus")[mask])
    if not candidates:
        return ()
    found = np.concatenate(candidates)
    valid = np.isin(found, np.asarray(in_service_buses(net), dtype=np.float64))
    return tuple(sorted({int(b) for b in found[valid]}))
