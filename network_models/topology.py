"""Switch-aware topology of a pandapower feeder as a networkx graph.

The module is built from pure functions (:func:`build_graph`, :func:`source_buses`,
:func:`trace_from_sources`, :func:`connected_islands`, :func:`find_meshes`, ...) and a thin frozen
dataclass, :class:`FeederTopology`, that computes the derived views (islands, energised buses,
radiality, the BFS tree from the sources and the feeder head of every bus) once and caches them.

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
``slack=True`` (:func:`source_buses`).  Tracing (path to the source, feeder heads) uses a single
multi-source breadth-first search, so every path is a shortest path in number of branches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Integral
from types import MappingProxyType
from typing import Any, TypeGuard

import networkx as nx
import numpy as np
import pandas as pd

from network_models.errors import FeederError, SwitchingError, UnknownElementError

__all__ = [
    "EDGE_ELEMENTS",
    "DeenergizedBusError",
    "FeederHead",
    "FeederTopology",
    "SourceTrace",
    "build_graph",
    "build_topology",
    "connected_islands",
    "feeder_heads",
    "find_meshes",
    "graph_is_radial",
    "in_service_buses",
    "set_switch_state",
    "source_buses",
    "trace_from_sources",
]

EDGE_ELEMENTS: tuple[str, ...] = ("line", "trafo", "trafo3w", "impedance", "switch")
"""Values of the ``element`` edge attribute."""

_VN_DECIMALS = 6
"""Nominal voltages are compared after rounding to this many decimals [kV]."""


class DeenergizedBusError(FeederError):
    """A bus is in service but not connected to any source (ext_grid or slack generator)."""


# --------------------------------------------------------------------------------------------
# Table helpers
# --------------------------------------------------------------------------------------------


def _table(net: Any, name: str) -> pd.DataFrame | None:
    """Return ``net[name]`` if it is a non-empty DataFrame, else ``None``."""
    try:
        table = net[name]
    except (KeyError, AttributeError, TypeError):
        return None
    if not isinstance(table, pd.DataFrame) or table.empty:
        return None
    return table


def _in_service_mask(table: pd.DataFrame) -> np.ndarray:
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


def _level(vn_kv: float) -> float:
    """Voltage level key of a nominal voltage [kV] (rounded so 20.0 and 20.0000001 match)."""
    return round(float(vn_kv), _VN_DECIMALS)


def _is_int_id(value: object) -> TypeGuard[Integral]:
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
    table = _table(net, name)
    if table is None:
        return []
    mask = _in_service_mask(table)
    ids = table.index.to_numpy()
    if switch_et is not None:
        mask &= ~np.isin(ids, _open_switch_elements(_table(net, "switch"), switch_et))
    u = _bus_column(table, from_col)[mask]
    v = _bus_column(table, to_col)[mask]
    return [(u, v, name, ids[mask])]


def _trafo3w_edges(net: Any) -> list[tuple[np.ndarray, np.ndarray, str, np.ndarray]]:
    """Edge arrays of the in-service three-winding transformers (HV-centred star)."""
    table = _table(net, "trafo3w")
    if table is None:
        return []
    table = table[_in_service_mask(table)]
    ids = table.index.to_numpy()
    hv = _bus_column(table, "hv_bus")
    mv = _bus_column(table, "mv_bus")
    lv = _bus_column(table, "lv_bus")
    switches = _table(net, "switch")
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
    switches = _table(net, "switch")
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
    buses = _table(net, "bus")
    if buses is None:
        return []
    return [int(b) for b in buses.index.to_numpy()[_in_service_mask(buses)]]


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
        The feeder model.

    Returns
    -------
    tuple[int, ...]
        Sorted, unique buses of the in-service external grids and of the in-service generators
        with ``slack=True``.  Sources on out-of-service or non-existent buses are left out: they
        cannot energise anything.
    """
    candidates: list[np.ndarray] = []
    ext_grid = _table(net, "ext_grid")
    if ext_grid is not None:
        candidates.append(_bus_column(ext_grid, "bus")[_in_service_mask(ext_grid)])
    gen = _table(net, "gen")
    if gen is not None and "slack" in gen.columns:
        mask = _in_service_mask(gen) & gen["slack"].eq(True).to_numpy(dtype=bool)
        candidates.append(_bus_column(gen, "bus")[mask])
    if not candidates:
        return ()
    found = np.concatenate(candidates)
    valid = np.isin(found, np.asarray(in_service_buses(net), dtype=np.float64))
    return tuple(sorted({int(b) for b in found[valid]}))


# --------------------------------------------------------------------------------------------
# Graph analysis (pure functions on the graph)
# --------------------------------------------------------------------------------------------


def connected_islands(graph: nx.MultiGraph) -> tuple[frozenset[int], ...]:
    """Connected components of the graph, largest first (ties: lowest bus first).

    Parameters
    ----------
    graph : networkx.MultiGraph
        Topology graph from :func:`build_graph`.

    Returns
    -------
    tuple[frozenset[int], ...]
        One bus set per island.
    """
    islands = [frozenset(c) for c in nx.connected_components(graph)]
    islands.sort(key=lambda island: (-len(island), min(island)))
    return tuple(islands)


@dataclass(frozen=True)
class SourceTrace:
    """Breadth-first search tree grown from all sources at once.

    Attributes
    ----------
    order : tuple[int, ...]
        Energised buses in the order they were reached (sources first).
    parent : Mapping[int, int]
        Energised non-source bus -> its predecessor on a shortest path to a source.
    parent_edge : Mapping[int, tuple[str, int]]
        Energised non-source bus -> ``(element, element_id)`` of the edge to its parent.
    source_of : Mapping[int, int]
        Energised bus -> the source bus its path starts from.
    """

    order: tuple[int, ...]
    parent: Mapping[int, int]
    parent_edge: Mapping[int, tuple[str, int]]
    source_of: Mapping[int, int]


def trace_from_sources(graph: nx.MultiGraph, sources: Iterable[int]) -> SourceTrace:
    """Multi-source breadth-first search (shortest paths in number of branches).

    Parameters
    ----------
    graph : networkx.MultiGraph
        Topology graph from :func:`build_graph`.
    sources : Iterable[int]
        Source buses; each must be a node of ``graph``.

    Returns
    -------
    SourceTrace
        BFS order, predecessor map, feeding edge and originating source of every energised bus.
        Among parallel edges the first one stored in the graph is reported as the feeding edge.

    Raises
    ------
    ValueError
        If a source is not a node of the graph.
    """
    roots = sorted(set(sources))
    missing = [s for s in roots if s not in graph]
    if missing:
        raise ValueError(f"source buses {missing} are not in-service buses of the graph")
    parent: dict[int, int] = {}
    parent_edge: dict[int, tuple[str, int]] = {}
    source_of: dict[int, int] = {s: s for s in roots}
    order: list[int] = list(roots)
    queue = deque(roots)
    adjacency = graph.adj
    while queue:
        bus = queue.popleft()
        root = source_of[bus]
        for neighbour, edges in adjacency[bus].items():
            if neighbour in source_of:
                continue
            data = next(iter(edges.values()))
            source_of[neighbour] = root
            parent[neighbour] = bus
            parent_edge[neighbour] = (data["element"], data["element_id"])
            order.append(neighbour)
            queue.append(neighbour)
    return SourceTrace(
        order=tuple(order),
        parent=MappingProxyType(parent),
        parent_edge=MappingProxyType(parent_edge),
        source_of=MappingProxyType(source_of),
    )


def feeder_heads(trace: SourceTrace, vn_kv: Mapping[int, float]) -> dict[int, int]:
    """Feeder head of every energised bus.

    The head of a bus is the first bus, walking its traced path from the source, whose nominal
    voltage equals that of the bus (so the head of a bus at the source's own level is the
    source itself).

    Parameters
    ----------
    trace : SourceTrace
        Result of :func:`trace_from_sources`.
    vn_kv : Mapping[int, float]
        Nominal voltage of every energised bus [kV].

    Returns
    -------
    dict[int, int]
        Energised bus -> its feeder head bus.
    """
    # first bus of each voltage level on the path from the source, per bus; these dicts have one
    # entry per voltage level crossed (a handful), and unchanged ones are shared with the parent
    first_of_level: dict[int, dict[float, int]] = {}
    heads: dict[int, int] = {}
    for bus in trace.order:
        level = _level(vn_kv[bus])
        above = trace.parent.get(bus)
        inherited = first_of_level[above] if above is not None else {}
        levels = inherited if level in inherited else {**inherited, level: bus}
        first_of_level[bus] = levels
        heads[bus] = levels[level]
    return heads


def graph_is_radial(graph: nx.MultiGraph, islands: Iterable[frozenset[int]]) -> bool:
    """Whether every given connected component of the graph is a tree.

    Parallel edges between the same two buses make a component meshed.

    Parameters
    ----------
    graph : networkx.MultiGraph
        Topology graph.
    islands : Iterable[frozenset[int]]
        Whole connected components of ``graph`` (e.g. the energised islands).

    Returns
    -------
    bool
        True when the sub-graph on these islands is a forest, i.e. it has exactly
        ``buses - islands`` edges.
    """
    components = list(islands)
    buses = [bus for island in components for bus in island]
    if not buses:
        return True
    # a multigraph degree counts parallel edges (and self-loops twice): sum / 2 = edge count
    degree_sum = sum(degree for _, degree in graph.degree(buses))
    return bool(degree_sum // 2 == len(buses) - len(components))


def _canonical_loop(loop: list[int]) -> list[int]:
    """Rotate/reflect a bus loop so it starts at its lowest bus and goes to the lower neighbour."""
    start = loop.index(min(loop))
    rotated = loop[start:] + loop[:start]
    if len(rotated) > 2 and rotated[-1] < rotated[1]:
        rotated = [rotated[0], *reversed(rotated[1:])]
    return rotated


def find_meshes(graph: nx.MultiGraph, buses: Iterable[int] | None = None) -> list[list[int]]:
    """Independent bus loops (a cycle basis) of the graph.

    Parameters
    ----------
    graph : networkx.MultiGraph
        Topology graph.
    buses : Iterable[int], optional
        Restrict the search to the sub-graph on these buses (default: the whole graph).

    Returns
    -------
    list[list[int]]
        One list of buses per independent loop, in the style of :func:`networkx.cycle_basis`;
        ``k`` parallel edges between two buses give ``k - 1`` two-bus loops ``[a, b]``.  Each
        loop starts at its lowest bus and the loops are sorted, so the result is deterministic.
        The number of loops is the cyclomatic number ``edges - buses + components``.
    """
    sub = graph if buses is None else graph.subgraph(set(buses))
    simple = nx.Graph(sub)
    loops = [_canonical_loop(list(c)) for c in nx.cycle_basis(simple)]
    for a, b in simple.edges():
        if a == b:
            continue
        extra = sub.number_of_edges(a, b) - 1
        loops.extend([sorted((a, b)) for _ in range(extra)])
    loops.sort(key=lambda loop: (len(loop), loop))
    return loops


# --------------------------------------------------------------------------------------------
# The topology object
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeederHead:
    """Where the feeder of a bus starts.

    Attributes
    ----------
    bus : int
        First bus at the voltage level of the traced bus on the path from the source.
    source_bus : int
        The source (ext_grid / slack generator) bus the path starts from.
    element : str or None
        Element feeding the head bus (``"trafo"``, ``"line"``, ...); ``None`` if the head is the
        source bus itself.
    element_id : int or None
        pandapower index of ``element``; ``None`` if the head is the source bus itself.
    """

    bus: int
    source_bus: int
    element: str | None
    element_id: int | None


@dataclass(frozen=True, eq=False)
class FeederTopology:
    """Topology of a feeder with the derived views computed once.

    Build it with :func:`build_topology`; constructing it directly from a graph works too, the
    derived fields are computed in ``__post_init__``.  Equality is identity (the graph is a
    mutable networkx object); treat ``graph`` as read-only (:func:`build_topology` freezes it).

    Attributes
    ----------
    graph : networkx.MultiGraph
        Switch-aware topology graph (see :func:`build_graph`).
    source_buses : tuple[int, ...]
        Sorted source buses (see :func:`source_buses`); each must be a node of ``graph``.
    vn_kv : Mapping[int, float]
        Nominal voltage of every bus of ``graph`` [kV].
    islands : tuple[frozenset[int], ...]
        Connected components, largest first.
    energized_buses : frozenset[int]
        Buses connected to at least one source.
    deenergized_buses : frozenset[int]
        In-service buses not connected to any source.
    is_radial : bool
        Every energised component is a tree (parallel branches count as a mesh).
    trace : SourceTrace
        BFS tree from the sources (predecessor map, feeding edges, source of each bus).
    head_of : Mapping[int, int]
        Energised bus -> its feeder head bus.
    """

    graph: nx.MultiGraph
    source_buses: tuple[int, ...]
    vn_kv: Mapping[int, float]
    islands: tuple[frozenset[int], ...] = field(init=False)
    energized_buses: frozenset[int] = field(init=False)
    deenergized_buses: frozenset[int] = field(init=False)
    is_radial: bool = field(init=False)
    trace: SourceTrace = field(init=False)
    head_of: Mapping[int, int] = field(init=False)

    def __post_init__(self) -> None:
        """Validate the inputs and compute the derived fields."""
        missing_vn = [b for b in self.graph.nodes if b not in self.vn_kv]
        if missing_vn:
            raise ValueError(f"vn_kv is missing for buses {sorted(missing_vn)[:10]}")
        sources = tuple(sorted({int(s) for s in self.source_buses}))
        trace = trace_from_sources(self.graph, sources)
        energized = frozenset(trace.source_of)
        setattr_ = object.__setattr__
        setattr_(self, "source_buses", sources)
        setattr_(self, "vn_kv", MappingProxyType({int(b): float(v) for b, v in self.vn_kv.items()}))
        islands = connected_islands(self.graph)
        energized_islands = [island for island in islands if not island.isdisjoint(sources)]
        setattr_(self, "islands", islands)
        setattr_(self, "energized_buses", energized)
        setattr_(self, "deenergized_buses", frozenset(self.graph.nodes) - energized)
        setattr_(self, "is_radial", graph_is_radial(self.graph, energized_islands))
        setattr_(self, "trace", trace)
        setattr_(self, "head_of", MappingProxyType(feeder_heads(trace, self.vn_kv)))

    def __repr__(self) -> str:
        return (
            f"FeederTopology(buses={self.graph.number_of_nodes()}, "
            f"edges={self.graph.number_of_edges()}, sources={self.source_buses}, "
            f"islands={len(self.islands)}, deenergized={len(self.deenergized_buses)}, "
            f"radial={self.is_radial})"
        )

    @property
    def parent(self) -> Mapping[int, int]:
        """Energised non-source bus -> predecessor towards its source (the cached BFS tree)."""
        return self.trace.parent

    def _check_energized(self, bus: object) -> int:
        """Return ``bus`` as ``int`` if it is an energised bus, else raise."""
        if not _is_int_id(bus) or int(bus) not in self.graph:
            raise UnknownElementError(
                f"bus {bus!r} is not an in-service bus of the feeder "
                f"(it does not exist, is out of service or is not an integer bus index)"
            )
        bus_id = int(bus)
        if bus_id not in self.trace.source_of:
            raise DeenergizedBusError(
                f"bus {bus_id} is de-energized: it is not connected to any source bus "
                f"(sources: {', '.join(map(str, self.source_buses)) or 'none'})"
            )
        return bus_id

    def meshes(self) -> list[list[int]]:
        """Independent loops of the energised part of the feeder.

        Returns
        -------
        list[list[int]]
            Bus loops as returned by :func:`find_meshes`; empty when :attr:`is_radial`.
        """
        if self.is_radial:
            return []
        return find_meshes(self.graph, self.energized_buses)

    def path_to_source(self, bus: int) -> list[int]:
        """Buses from ``bus`` to its source along the cached BFS tree.

        Parameters
        ----------
        bus : int
            An energised bus.

        Returns
        -------
        list[int]
            ``[bus, ..., source_bus]``, a shortest path in number of branches.

        Raises
        ------
        UnknownElementError
            If ``bus`` is not an in-service bus of the feeder.
        DeenergizedBusError
            If ``bus`` is not connected to any source.
        """
        current = self._check_energized(bus)
        path = [current]
        parent = self.trace.parent
        while current in parent:
            current = parent[current]
            path.append(current)
        return path

    def feeder_head(self, bus: int) -> FeederHead:
        """Feeder head of ``bus``: the first bus at its voltage level on the path from the source.

        Parameters
        ----------
        bus : int
            An energised bus.

        Returns
        -------
        FeederHead
            Head bus, source bus and the element (with id) that feeds the head bus.

        Raises
        ------
        UnknownElementError
            If ``bus`` is not an in-service bus of the feeder.
        DeenergizedBusError
            If ``bus`` is not connected to any source.
        """
        bus_id = self._check_energized(bus)
        head = self.head_of[bus_id]
        source = self.trace.source_of[bus_id]
        if head == source:
            return FeederHead(bus=head, source_bus=source, element=None, element_id=None)
        element, element_id = self.trace.parent_edge[head]
        return FeederHead(bus=head, source_bus=source, element=element, element_id=element_id)

    def feeders(self) -> dict[int, frozenset[int]]:
        """Partition of the energised buses by feeder head.

        Returns
        -------
        dict[int, frozenset[int]]
            Feeder head bus -> the buses whose feeder head it is (the head included).  Every
            energised bus is in exactly one feeder; the buses at a source's own voltage level
            form the feeder of that source bus.  Keys are sorted.
        """
        groups: dict[int, set[int]] = {}
        for bus, head in self.head_of.items():
            groups.setdefault(head, set()).add(bus)
        return {head: frozenset(groups[head]) for head in sorted(groups)}


def build_topology(net: Any) -> FeederTopology:
    """Build the topology of a pandapower net, honouring switch states.

    Parameters
    ----------
    net : pandapowerNet
        The feeder model; it is not modified.

    Returns
    -------
    FeederTopology
        Graph (frozen with :func:`networkx.freeze`), sources, bus voltages and derived views.
    """
    graph = nx.freeze(build_graph(net))
    buses = _table(net, "bus")
    vn_kv: dict[int, float] = {}
    if buses is not None:
        in_service = buses[_in_service_mask(buses)]
        values = pd.to_numeric(in_service["vn_kv"], errors="coerce").to_numpy(dtype=np.float64)
        vn_kv = dict(zip(in_service.index.astype(int).tolist(), values.tolist(), strict=True))
    return FeederTopology(graph=graph, source_buses=source_buses(net), vn_kv=vn_kv)


# --------------------------------------------------------------------------------------------
# Switching
# --------------------------------------------------------------------------------------------


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
    if not _is_int_id(switch_id):
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
