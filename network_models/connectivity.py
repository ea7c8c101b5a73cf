"""Analysis of a topology graph: islands, tracing from the sources, feeder heads, meshes.

Pure functions on the graph of :func:`network_models.graph.build_graph`. Tracing (path to the
source, feeder heads) uses a single multi-source breadth-first search, so every path is a
shortest path in number of branches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import networkx as nx

__all__ = [
    "SourceTrace",
    "connected_islands",
    "feeder_heads",
    "find_meshes",
    "graph_is_radial",
    "trace_from_sources",
]

_VN_DECIMALS = 6
"""Nominal voltages are compared after rounding to this many decimals [kV]."""


def _level(vn_kv: float) -> float:
    """Voltage level key of a nominal voltage [kV] (rounded so 20.0 and 20.0000001 match)."""
    return round(float(vn_kv), _VN_DECIMALS)


def connected_islands(graph: nx.MultiGraph) -> tuple[frozenset[int], ...]:
    """Connected components of the graph, largest first (ties: lowest bus first).

    Parameters
    ----------
    graph : networkx.MultiGraph
        Topology graph from :func:`~network_models.graph.build_graph`.

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
        Topology graph from :func:`~network_models.graph.build_graph`.
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
