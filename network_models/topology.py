"""The topology of a feeder: the switch-aware graph with its derived views computed once.

:func:`build_topology` builds a :class:`FeederTopology` from a pandapower net: the graph of
:func:`network_models.graph.build_graph` (whose docstring gives the graph model), the sources,
and the views of :mod:`network_models.connectivity` (islands, energised buses, radiality, the
BFS tree from the sources and the feeder head of every bus). Switching is
:func:`network_models.switching.set_switch_state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from network_models.connectivity import (
    SourceTrace,
    connected_islands,
    feeder_heads,
    find_meshes,
    graph_is_radial,
    trace_from_sources,
)
from network_models.errors import DeenergizedBusError, UnknownElementError
from network_models.graph import (
    build_graph,
    element_table,
    in_service_mask,
    is_int_id,
    source_buses,
)

__all__ = ["FeederHead", "FeederTopology", "build_topology"]


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
        if not is_int_id(bus) or int(bus) not in self.graph:
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
            An energised bus (one a source feeds).

        Returns
        -------
        FeederHead
            Head bus, source bus and the element (with id) that feeds the head bus.

        Raises
        ------
        UnknownElementError, DeenergizedBusError
            As :meth:`path_to_source`: ``bus`` is not an in-service bus, or no source feeds it.
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
        The feeder model, only read.

    Returns
    -------
    FeederTopology
        Graph (frozen with :func:`networkx.freeze`), sources, bus voltages and derived views.
    """
    graph = nx.freeze(build_graph(net))
    buses = element_table(net, "bus")
    vn_kv: dict[int, float] = {}
    if buses is not None:
        in_service = buses[in_service_mask(buses)]
        values = pd.to_numeric(in_service["vn_kv"], errors="coerce").to_numpy(dtype=np.float64)
        vn_kv = dict(zip(in_service.index.astype(int).tolist(), values.tolist(), strict=True))
    return FeederTopology(graph=graph, source_buses=source_buses(net), vn_kv=vn_kv)
