"""Tests of the switch-aware feeder topology on real pandapower networks."""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from network_models.connectivity import find_meshes
from network_models.errors import (
    DeenergizedBusError,
    FeederError,
    SwitchingError,
    UnknownElementError,
)
from network_models.graph import build_graph, source_buses
from network_models.switching import set_switch_state
from network_models.topology import FeederHead, FeederTopology, build_topology

# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _pristine() -> dict[str, pp.pandapowerNet]:
    """Each network is loaded once per module; tests get deep copies they may modify."""
    return {
        "cigre_mv": pn.create_cigre_network_mv(with_der="all"),
        "baran_wu": pn.case33bw(),
        "cigre_lv": pn.create_cigre_network_lv(),
        "multivoltage": pn.example_multivoltage(),
    }


def _copy_of(name: str) -> Any:
    """A fixture ``name``: a deep copy of the pristine network of that name."""

    @pytest.fixture(name=name)
    def copied(_pristine: dict[str, pp.pandapowerNet]) -> pp.pandapowerNet:
        return copy.deepcopy(_pristine[name])

    return copied


cigre_mv = _copy_of("cigre_mv")
baran_wu = _copy_of("baran_wu")
cigre_lv = _copy_of("cigre_lv")
multivoltage = _copy_of("multivoltage")


def switch_named(net: pp.pandapowerNet, name: str) -> int:
    (index,) = net.switch.index[net.switch.name == name]
    return int(index)


def edges_of(graph: nx.MultiGraph, element: str) -> set[tuple[int, int, int]]:
    """``(min bus, max bus, element_id)`` of every edge of one element type."""
    return {
        (min(u, v), max(u, v), data["element_id"])
        for u, v, data in graph.edges(data=True)
        if data["element"] == element
    }


def assert_partition(topology: FeederTopology) -> None:
    feeders = topology.feeders()
    seen: set[int] = set()
    for head, buses in feeders.items():
        assert head in buses
        assert seen.isdisjoint(buses)
        seen |= buses
        for bus in buses:
            assert topology.feeder_head(bus).bus == head
    assert seen == topology.energized_buses


# --------------------------------------------------------------------------------------------
# build_graph
# --------------------------------------------------------------------------------------------


def test_cigre_mv_graph_honours_open_tie_switches(cigre_mv: pp.pandapowerNet) -> None:
    graph = build_graph(cigre_mv)

    assert isinstance(graph, nx.MultiGraph)
    assert set(graph.nodes) == set(range(15))
    assert all(type(node) is int for node in graph.nodes)
    # 15 in-service lines; lines 12 (S2), 13 (S3) and 14 (S1) have an open switch
    assert edges_of(graph, "line") == {
        (min(f, t), max(f, t), i)
        for i, f, t in zip(
            cigre_mv.line.index, cigre_mv.line.from_bus, cigre_mv.line.to_bus, strict=True
        )
        if i not in (12, 13, 14)
    }
    assert edges_of(graph, "trafo") == {(0, 1, 0), (0, 12, 1)}
    assert graph.number_of_edges() == 14
    for _, _, data in graph.edges(data=True):
        assert set(data) == {"element", "element_id"}
        assert type(data["element_id"]) is int


def test_cigre_mv_is_radial_with_ties_open(cigre_mv: pp.pandapowerNet) -> None:
    topology = build_topology(cigre_mv)

    assert topology.source_buses == (0,)
    assert topology.is_radial
    assert topology.meshes() == []
    assert topology.islands == (frozenset(range(15)),)
    assert topology.energized_buses == frozenset(range(15))
    assert topology.deenergized_buses == frozenset()


@pytest.mark.parametrize(
    ("tie", "loop_buses"),
    [
        ("S1", {0, 1, 2, 3, 8, 14, 13, 12}),  # line 14 (14-8) closes a loop through both trafos
        ("S2", {3, 4, 5, 6, 7, 8}),  # line 12 (6-7)
        ("S3", {3, 4, 11, 10, 9, 8}),  # line 13 (11-4)
    ],
)
def test_closing_cigre_mv_tie_switch_makes_one_mesh(
    cigre_mv: pp.pandapowerNet, tie: str, loop_buses: set[int]
) -> None:
    switch_id = switch_named(cigre_mv, tie)

    previous = set_switch_state(cigre_mv, switch_id, closed=True)
    topology = build_topology(cigre_mv)

    assert previous is False
    assert bool(cigre_mv.switch.at[switch_id, "closed"]) is True
    assert not topology.is_radial
    meshes = topology.meshes()
    assert len(meshes) == 1
    assert set(meshes[0]) == loop_buses
    assert len(meshes[0]) == len(loop_buses)
    assert meshes[0][0] == min(loop_buses)  # canonical rotation
    assert topology.deenergized_buses == frozenset()


def test_closing_two_ties_gives_two_independent_loops(cigre_mv: pp.pandapowerNet) -> None:
    set_switch_state(cigre_mv, switch_named(cigre_mv, "S2"), True)
    set_switch_state(cigre_mv, switch_named(cigre_mv, "S3"), True)

    topology = build_topology(cigre_mv)

    # cyclomatic number: 16 edges - 15 buses + 1 island
    assert topology.graph.number_of_edges() == 16
    assert len(topology.meshes()) == 2
    assert {3, 4, 8} <= set().union(*map(set, topology.meshes()))


def test_opening_a_line_switch_splits_off_deenergized_island(
    baran_wu: pp.pandapowerNet,
) -> None:
    # line 7 runs 7 -> 8; a breaker at its bus-8 end feeds the rest of the main trunk
    switch_id = pp.create_switch(baran_wu, bus=8, element=7, et="l", closed=True, name="CB8")
    assert build_topology(baran_wu).deenergized_buses == frozenset()

    previous = set_switch_state(baran_wu, switch_id, closed=False)
    topology = build_topology(baran_wu)

    assert previous is True
    downstream = frozenset(range(8, 18))
    assert topology.deenergized_buses == downstream
    assert topology.islands == (frozenset(range(33)) - downstream, downstream)
    assert topology.energized_buses == frozenset(range(33)) - downstream
    assert ("line", 7) not in {
        (d["element"], d["element_id"]) for *_, d in topology.graph.edges(data=True)
    }
    assert topology.is_radial
    with pytest.raises(DeenergizedBusError, match=r"bus 12 is de-energized"):
        topology.path_to_source(12)
    with pytest.raises(DeenergizedBusError, match=r"bus 8\b"):
        topology.feeder_head(8)


def test_opening_cigre_lv_bus_bus_switch_deenergizes_industrial_feeder(
    cigre_lv: pp.pandapowerNet,
) -> None:
    graph = build_graph(cigre_lv)
    assert edges_of(graph, "switch") == {(0, 1, 0), (0, 20, 1), (0, 23, 2)}

    set_switch_state(cigre_lv, switch_named(cigre_lv, "S2"), False)  # bus 0 - bus 20 ("I0")
    topology = build_topology(cigre_lv)

    assert edges_of(topology.graph, "switch") == {(0, 1, 0), (0, 23, 2)}
    assert topology.deenergized_buses == frozenset({20, 21, 22})
    assert len(topology.islands) == 2
    assert topology.islands[1] == frozenset({20, 21, 22})
    assert topology.is_radial


def test_cigre_lv_feeders(cigre_lv: pp.pandapowerNet) -> None:
    topology = build_topology(cigre_lv)

    assert topology.is_radial
    feeders = topology.feeders()
    assert list(feeders) == [0, 2, 21, 24]
    assert feeders[0] == frozenset({0, 1, 20, 23})  # the 20 kV level of the source
    assert feeders[21] == frozenset({21, 22})
    assert topology.feeder_head(22) == FeederHead(21, 0, "trafo", 1)
    assert topology.feeder_head(20) == FeederHead(0, 0, None, None)
    assert topology.path_to_source(22) == [22, 21, 20, 0]
    assert_partition(topology)


def test_out_of_service_line_is_not_an_edge(baran_wu: pp.pandapowerNet) -> None:
    topology = build_topology(baran_wu)

    assert not baran_wu.line.loc[32:36, "in_service"].any()
    line_ids = {d["element_id"] for *_, d in topology.graph.edges(data=True)}
    assert line_ids == set(range(32))
    assert topology.is_radial
    assert topology.meshes() == []


def test_tie_line_in_service_makes_baran_wu_meshed(baran_wu: pp.pandapowerNet) -> None:
    baran_wu.line.at[35, "in_service"] = True  # tie line 17 - 32

    topology = build_topology(baran_wu)

    assert not topology.is_radial
    (loop,) = topology.meshes()
    assert set(loop) == set(range(5, 18)) | set(range(25, 33))
    assert loop[0] == 5


def test_parallel_lines_count_as_a_two_bus_mesh(baran_wu: pp.pandapowerNet) -> None:
    pp.create_line_from_parameters(baran_wu, 0, 1, 0.1, 0.1, 0.1, 10.0, 0.4)

    topology = build_topology(baran_wu)

    assert topology.graph.number_of_edges(0, 1) == 2
    assert not topology.is_radial
    assert topology.meshes() == [[0, 1]]


def test_mesh_in_deenergized_island_does_not_make_feeder_meshed(
    baran_wu: pp.pandapowerNet,
) -> None:
    pp.create_switch(baran_wu, bus=8, element=7, et="l", closed=False)
    baran_wu.line.at[33, "in_service"] = True  # tie 8 - 14, inside the de-energized part

    topology = build_topology(baran_wu)

    assert topology.deenergized_buses == frozenset(range(8, 18))
    assert topology.is_radial
    assert topology.meshes() == []
    (loop,) = find_meshes(topology.graph)
    assert set(loop) == set(range(8, 15))


def test_out_of_service_bus_is_dropped_with_its_edges(baran_wu: pp.pandapowerNet) -> None:
    baran_wu.bus.at[17, "in_service"] = False

    topology = build_topology(baran_wu)

    assert 17 not in topology.graph
    assert topology.graph.number_of_nodes() == 32
    assert topology.graph.number_of_edges() == 31  # line 16 (16 - 17) dropped
    with pytest.raises(UnknownElementError, match=r"bus 17 is not an in-service bus"):
        topology.path_to_source(17)


def test_trafo_switch_and_out_of_service_trafo(cigre_mv: pp.pandapowerNet) -> None:
    set_switch_state(cigre_mv, 6, False)  # CB at bus 0 of trafo 0
    opened = build_topology(cigre_mv)
    assert edges_of(opened.graph, "trafo") == {(0, 12, 1)}
    assert opened.deenergized_buses == frozenset(range(1, 12))

    set_switch_state(cigre_mv, 6, True)
    cigre_mv.trafo.at[1, "in_service"] = False
    out = build_topology(cigre_mv)
    assert edges_of(out.graph, "trafo") == {(0, 1, 0)}
    assert out.deenergized_buses == frozenset({12, 13, 14})


# --------------------------------------------------------------------------------------------
# trafo3w, impedance, sources
# --------------------------------------------------------------------------------------------


def test_trafo3w_is_a_star_on_the_hv_bus(multivoltage: pp.pandapowerNet) -> None:
    topology = build_topology(multivoltage)

    # trafo3w 0: hv 33 (110 kV), mv 36 (20 kV), lv 37 (10 kV)
    assert edges_of(topology.graph, "trafo3w") == {(33, 36, 0), (33, 37, 0)}
    assert edges_of(topology.graph, "impedance") == {(32, 34, 0)}
    assert topology.feeder_head(40) == FeederHead(37, 0, "trafo3w", 0)
    assert topology.feeder_head(36) == FeederHead(36, 0, "trafo3w", 0)
    assert_partition(topology)


def test_open_trafo3w_switch_disconnects_only_its_winding(
    multivoltage: pp.pandapowerNet,
) -> None:
    mv_open = copy.deepcopy(multivoltage)
    pp.create_switch(mv_open, bus=36, element=0, et="t3", closed=False)
    topology = build_topology(mv_open)
    assert edges_of(topology.graph, "trafo3w") == {(33, 37, 0)}
    assert topology.deenergized_buses == frozenset({36})

    pp.create_switch(multivoltage, bus=33, element=0, et="t3", closed=False)
    topology = build_topology(multivoltage)
    assert edges_of(topology.graph, "trafo3w") == {(36, 37, 0)}  # MV and LV still coupled
    assert {36, 37, 40} <= topology.deenergized_buses
    assert topology.deenergized_buses.isdisjoint({0, 32, 33})


def test_out_of_service_impedance_is_not_an_edge(multivoltage: pp.pandapowerNet) -> None:
    assert len(build_topology(multivoltage).meshes()) == 3

    multivoltage.impedance.at[0, "in_service"] = False
    topology = build_topology(multivoltage)

    assert edges_of(topology.graph, "impedance") == set()
    assert len(topology.meshes()) == 2


def test_source_buses_include_slack_gens_and_skip_out_of_service(
    multivoltage: pp.pandapowerNet,
) -> None:
    assert source_buses(multivoltage) == (0,)

    multivoltage.gen.at[0, "slack"] = True  # gen at bus 35
    assert source_buses(multivoltage) == (0, 35)

    multivoltage.ext_grid.at[0, "in_service"] = False
    assert source_buses(multivoltage) == (35,)

    multivoltage.gen.at[0, "in_service"] = False
    topology = build_topology(multivoltage)
    assert topology.source_buses == ()
    assert topology.energized_buses == frozenset()
    assert topology.deenergized_buses == frozenset(topology.graph.nodes)
    assert topology.feeders() == {}


# --------------------------------------------------------------------------------------------
# Tracing: paths, feeder heads, feeders
# --------------------------------------------------------------------------------------------


def test_baran_wu_path_to_source(baran_wu: pp.pandapowerNet) -> None:
    topology = build_topology(baran_wu)

    assert topology.path_to_source(17) == list(range(17, -1, -1))
    assert topology.path_to_source(32) == [32, 31, 30, 29, 28, 27, 26, 25, 5, 4, 3, 2, 1, 0]
    assert topology.path_to_source(0) == [0]
    assert topology.path_to_source(np.int64(3)) == [3, 2, 1, 0]  # type: ignore[arg-type]


def test_path_to_source_rejects_unknown_buses(baran_wu: pp.pandapowerNet) -> None:
    topology = build_topology(baran_wu)

    for bad in (99, -1, True, "17", 17.0):
        with pytest.raises(UnknownElementError):
            topology.path_to_source(bad)  # type: ignore[arg-type]


def test_cigre_mv_feeder_heads(cigre_mv: pp.pandapowerNet) -> None:
    topology = build_topology(cigre_mv)

    assert topology.feeder_head(5) == FeederHead(bus=1, source_bus=0, element="trafo", element_id=0)
    assert topology.feeder_head(13) == FeederHead(
        bus=12, source_bus=0, element="trafo", element_id=1
    )
    assert topology.feeder_head(1) == FeederHead(1, 0, "trafo", 0)
    assert topology.feeder_head(0) == FeederHead(0, 0, None, None)
    assert topology.path_to_source(5) == [5, 4, 3, 2, 1, 0]


def test_cigre_mv_feeders_partition_energized_buses(cigre_mv: pp.pandapowerNet) -> None:
    topology = build_topology(cigre_mv)

    assert topology.feeders() == {
        0: frozenset({0}),
        1: frozenset(range(1, 12)),
        12: frozenset({12, 13, 14}),
    }
    assert_partition(topology)


def test_feeders_partition_with_deenergized_island(baran_wu: pp.pandapowerNet) -> None:
    pp.create_switch(baran_wu, bus=8, element=7, et="l", closed=False)

    topology = build_topology(baran_wu)

    assert topology.feeders() == {0: frozenset(range(33)) - frozenset(range(8, 18))}
    assert_partition(topology)


def test_topology_is_immutable(cigre_mv: pp.pandapowerNet) -> None:
    topology = build_topology(cigre_mv)

    with pytest.raises(dataclasses.FrozenInstanceError):
        topology.is_radial = False  # type: ignore[misc]
    assert nx.is_frozen(topology.graph)
    with pytest.raises(nx.NetworkXError):
        topology.graph.add_edge(0, 5)
    with pytest.raises(TypeError):
        topology.parent[5] = 0  # type: ignore[index]
    assert topology.parent[5] == 4
    assert "FeederTopology(buses=15" in repr(topology)


def test_deenergized_bus_error_is_a_feeder_error() -> None:
    assert issubclass(DeenergizedBusError, FeederError)
    assert not issubclass(DeenergizedBusError, UnknownElementError)


# --------------------------------------------------------------------------------------------
# set_switch_state
# --------------------------------------------------------------------------------------------


def test_set_switch_state_round_trip(cigre_mv: pp.pandapowerNet) -> None:
    s1 = switch_named(cigre_mv, "S1")

    assert set_switch_state(cigre_mv, s1, True) is False
    assert set_switch_state(cigre_mv, s1, False) is True
    assert bool(cigre_mv.switch.at[s1, "closed"]) is False
    assert cigre_mv.switch["closed"].dtype == bool
    assert set_switch_state(cigre_mv, np.int64(s1), True) is False  # type: ignore[arg-type]


def test_unknown_switch_id_names_it(cigre_mv: pp.pandapowerNet) -> None:
    with pytest.raises(UnknownElementError) as excinfo:
        set_switch_state(cigre_mv, 42, True)

    assert str(excinfo.value) == "switch 42 does not exist (net has 8 switches: ids 0..7)"


@pytest.mark.parametrize("bad_id", [True, False, "3", 3.0, None])
def test_non_int_switch_id_is_rejected(cigre_mv: pp.pandapowerNet, bad_id: object) -> None:
    before = cigre_mv.switch["closed"].copy()

    with pytest.raises(UnknownElementError, match=r"switch .* does not exist"):
        set_switch_state(cigre_mv, bad_id, True)  # type: ignore[arg-type]

    assert cigre_mv.switch["closed"].equals(before)


def test_switch_already_in_requested_state(cigre_mv: pp.pandapowerNet) -> None:
    s1 = switch_named(cigre_mv, "S1")

    with pytest.raises(SwitchingError) as excinfo:
        set_switch_state(cigre_mv, s1, False)
    assert str(excinfo.value) == f"switch {s1} ('S1') is already open"
    assert bool(cigre_mv.switch.at[s1, "closed"]) is False

    with pytest.raises(SwitchingError, match=r"^switch 0 is already closed$"):
        set_switch_state(cigre_mv, 0, True)  # unnamed switch


def test_set_switch_state_requires_bool_state(cigre_mv: pp.pandapowerNet) -> None:
    with pytest.raises(TypeError):
        set_switch_state(cigre_mv, 4, 1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Large networks
# --------------------------------------------------------------------------------------------


def test_lv_schutterwald_builds_and_energizes_every_load() -> None:
    net = pn.lv_schutterwald()

    start = time.perf_counter()
    topology = build_topology(net)
    elapsed = time.perf_counter() - start

    assert elapsed < 1.0
    assert topology.graph.number_of_nodes() == 2940
    assert len(topology.source_buses) == 14
    assert len(topology.islands) == 14
    assert all(not island.isdisjoint(topology.source_buses) for island in topology.islands)
    loads = net.load[net.load.in_service]
    load_buses = set(loads.bus[net.bus.loc[loads.bus, "in_service"].to_numpy()].astype(int))
    assert load_buses
    assert load_buses <= topology.energized_buses
    assert topology.deenergized_buses == frozenset()
    feeders = topology.feeders()
    assert len(feeders) == 28  # 14 x (20 kV source level + the 0.4 kV side of its trafo)
    assert_partition(topology)


def test_5000_bus_11000_switch_feeder_builds_fast() -> None:
    rng = np.random.default_rng(7)
    net = pp.create_empty_network()
    pp.create_buses(net, 5000, vn_kv=20.0)
    pp.create_ext_grid(net, 0)
    child = np.arange(1, 5000)
    parent = (rng.random(4999) * child).astype(int)  # random tree rooted at bus 0
    lines = pp.create_lines_from_parameters(net, parent, child, 0.1, 0.1, 0.1, 10.0, 0.4)
    pp.create_switches(
        net, np.concatenate([parent, child]), np.concatenate([lines, lines]), "l", closed=True
    )
    pp.create_switches(
        net, rng.integers(0, 5000, 1002), rng.integers(0, 5000, 1002), "b", closed=False
    )
    assert len(net.switch) == 11000

    start = time.perf_counter()
    topology = build_topology(net)
    feeders = topology.feeders()
    elapsed = time.perf_counter() - start

    assert elapsed < 1.0
    assert topology.is_radial
    assert topology.energized_buses == frozenset(range(5000))
    assert feeders == {0: frozenset(range(5000))}
    leaf = int(child[-1])
    path = topology.path_to_source(leaf)
    assert path[0] == leaf and path[-1] == 0
    assert len(path) - 1 == nx.shortest_path_length(topology.graph, leaf, 0)
