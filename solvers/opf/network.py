"""Network data the dispatch formulations read: a radial (forest) bus-branch model in per unit.

Built from the compiled AC model (:mod:`solvers.acmodel`), so lines, transformers, fused
bus-bus switches and the auxiliary buses pandapower adds at open line switches are exactly those
of the AC power flow that verifies every dispatch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandapower as pp
from pandapower.pypower.idx_brch import BR_R, BR_X, F_BUS, T_BUS
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from solvers.acmodel import AcModel

SQRT3 = float(np.sqrt(3.0))


def source_zones(model: AcModel) -> np.ndarray:
    """Zone label of every AC-model bus row: the parts of the network between its sources.

    Source (slack) buses hold their voltage, so an injection in one zone moves nothing in
    another; the slack buses themselves get -1. Internal buses of the model (e.g. at open line
    switches) belong to the zone they are wired into.
    """
    slack = np.zeros(model.n_bus, dtype=bool)
    slack[model.ref] = True
    ybus = sparse.csr_matrix(model.ybus)
    adjacency = sparse.csr_matrix((np.ones(ybus.nnz), ybus.indices, ybus.indptr), shape=ybus.shape)
    keep = sparse.diags((~slack).astype(float))
    _, label = connected_components(keep @ adjacency @ keep, directed=False)
    return np.where(slack, -1, label)


class FormulationError(ValueError):
    """The feeder does not fit the chosen formulation (the reason and a remedy are named)."""


@dataclass(frozen=True)
class RadialNetwork:
    """Branches oriented away from the source(s); buses are AC-model rows.

    Attributes
    ----------
    base_mva : float
        Per-unit power base [MVA].
    n_bus : int
        Buses of the model.
    roots : numpy.ndarray
        Source (slack) buses.
    v_root_pu : numpy.ndarray
        Voltage set-point of each root [pu].
    parent, child : numpy.ndarray
        Upstream and downstream bus of each branch.
    r_pu, x_pu : numpy.ndarray
        Series resistance and reactance of each branch [pu on ``base_mva``].
    s_max_pu : numpy.ndarray
        Thermal limit of each branch as apparent power at nominal voltage [pu]; ``inf`` for
        branches that are not lines or transformers (closed switches with impedance).
    element : list of tuple
        ``(table, id)`` of each branch (``("switch-impedance", -1)`` when unmapped); for
        parallel branches merged into one, the first of them.
    """

    base_mva: float
    n_bus: int
    roots: np.ndarray
    v_root_pu: np.ndarray
    parent: np.ndarray
    child: np.ndarray
    r_pu: np.ndarray
    x_pu: np.ndarray
    s_max_pu: np.ndarray
    element: list[tuple[str, int]]
    members: list[np.ndarray]  # AC-model branch rows merged into each branch (parallels)

    @property
    def n_branch(self) -> int:
        """Number of branches."""
        return len(self.parent)


def radial_network(
    model: AcModel,
    elements: list[tuple[str, int]],
    ratings_pu: np.ndarray,
    max_loading_percent: float,
) -> RadialNetwork:
    """Orient the AC model's branches from the sources and attach thermal limits.

    Raises
    ------
    FormulationError
        When the energized network is meshed (LinDistFlow needs a radial feeder).
    """
    branch = model.branch
    n_bus = model.n_bus
    f_bus = branch[:, F_BUS].real.astype(np.int64)
    t_bus = branch[:, T_BUS].real.astype(np.int64)
    z_pu = branch[:, BR_R].real + 1j * branch[:, BR_X].real
    roots = np.asarray(model.ref, dtype=np.int64)
    # parallel branches between the same two buses are one equivalent branch, not a mesh
    groups: dict[tuple[int, int], list[int]] = {}
    for row, (a, b) in enumerate(zip(f_bus, t_bus, strict=True)):
        groups.setdefault((min(a, b), max(a, b)), []).append(row)
    adjacency: list[list[tuple[int, tuple[int, int]]]] = [[] for _ in range(n_bus)]
    for pair in groups:
        adjacency[pair[0]].append((pair[1], pair))
        adjacency[pair[1]].append((pair[0], pair))
    seen = np.zeros(n_bus, dtype=bool)
    seen[roots] = True
    used: set[tuple[int, int]] = set()
    parents: list[int] = []
    children: list[int] = []
    members: list[list[int]] = []
    queue = deque(int(r) for r in roots)
    while queue:
        bus = queue.popleft()
        for other, pair in adjacency[bus]:
            if pair in used:
                continue
            used.add(pair)
            if seen[other]:
                raise FormulationError(
                    f"LinDistFlow needs a radial feeder, but the energized network has a mesh "
                    f"(closed through {_describe(elements[groups[pair][0]])}); use the "
                    f"'linearized-ac' formulation or open a tie switch"
                )
            seen[other] = True
            parents.append(bus)
            children.append(other)
            members.append(groups[pair])
            queue.append(other)
    z_equivalent = np.array([1.0 / np.sum(1.0 / z_pu[rows]) for rows in members], dtype=complex)
    element = [elements[rows[0]] for rows in members]
    s_max = np.array([ratings_pu[rows].sum() for rows in members])
    return RadialNetwork(
        base_mva=model.base_mva,
        n_bus=n_bus,
        roots=roots,
        v_root_pu=np.abs(model.v0[roots]),
        parent=np.asarray(parents, dtype=np.int64),
        child=np.asarray(children, dtype=np.int64),
        r_pu=z_equivalent.real,
        x_pu=z_equivalent.imag,
        s_max_pu=s_max * max_loading_percent / 100.0,
        element=element,
        members=[np.asarray(rows, dtype=np.int64) for rows in members],
    )


def _describe(element: tuple[str, int]) -> str:
    table, element_id = element
    return f"{table} {element_id}" if element_id >= 0 else "a closed switch"


def branch_ratings(
    model: AcModel, net: pp.pandapowerNet
) -> tuple[list[tuple[str, int]], np.ndarray]:
    """``(table, id)`` and thermal rating at nominal voltage [pu] of every AC-model branch row.

    Rows that are neither lines nor transformers (closed switches with impedance) get
    ``("switch-impedance", -1)`` and ``inf``.
    """
    n_rows = model.yf.shape[0]
    elements: list[tuple[str, int]] = [("switch-impedance", -1)] * n_rows
    ratings = np.full(n_rows, np.inf)
    lines, trafos = model.lines, model.trafos
    if len(lines.rows):
        line = net.line.loc[lines.element_ids]
        vn_kv = model.bus_base_kv[model.branch[lines.rows, F_BUS].real.astype(np.int64)]
        ratings[lines.rows] = (
            (line.max_i_ka * line.df * line.parallel).to_numpy(dtype=float)
            * SQRT3
            * vn_kv
            / model.base_mva
        )
    if len(trafos.rows):
        trafo = net.trafo.loc[trafos.element_ids]
        ratings[trafos.rows] = (trafo.sn_mva * trafo.df * trafo.parallel).to_numpy(
            dtype=float
        ) / model.base_mva
    for table, mapping in (("line", lines), ("trafo", trafos)):
        for row, element_id in zip(mapping.rows, mapping.element_ids, strict=True):
            elements[int(row)] = (table, int(element_id))
    return elements, ratings
