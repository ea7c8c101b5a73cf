"""What a network formulation of the dispatch LP is (:class:`Formulation`), and the
formulations by name (:func:`make_formulation`).

Three formulations implement the protocol: LinDistFlow (:mod:`solvers.opf.lindistflow`, radial
feeders, corrected in place by offsets), and the linearised AC model in sensitivity form
(:mod:`solvers.opf.sensitivity_ac`, the default ``"linearized-ac"``) and in full Jacobian form
(:mod:`solvers.opf.linearized_ac`), both corrected by re-linearising at the AC point.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from solvers.acmodel import AcModel
from solvers.limits import DispatchLimits
from solvers.lp.program import LinearProgram, LpSolver
from solvers.opf.lindistflow import LinDistFlow
from solvers.opf.linearized_ac import LinearizedAc
from solvers.opf.names import FORMULATIONS
from solvers.opf.network import radial_network
from solvers.opf.problem import AcPoint, ProblemIndex
from solvers.opf.sensitivity_ac import SensitivityAc


class Formulation(Protocol):
    """The network part of the dispatch LP: its rows, its correction at an AC operating point
    and its description.

    Attributes
    ----------
    name : str
        One of :data:`~solvers.opf.names.FORMULATIONS`.
    relinearizes : bool
        Corrected by re-linearising at an AC operating point (a new formulation, so a new LP);
        otherwise corrected in place (offsets in the live LP's bounds). A formulation that
        re-linearises also starts from an AC point and can step back from a schedule whose
        AC power flow has no solution.
    models_losses : bool
        Whether the feeder head includes the network losses (objective ``"losses"``).
    voltage_slack_squared : bool
        Whether its voltage-band slacks are on ``|V|^2`` rather than ``|V|`` (diagnosis).
    branch_element : list of tuple
        ``(table, id)`` of each branch row of its thermal slacks (diagnosis).
    slack_at : dict
        Limit-slack family -> (element row, period) of its entries, for families listed rather
        than shaped element x period (empty when every family is shaped).
    """

    name: str
    relinearizes: bool
    models_losses: bool
    voltage_slack_squared: bool
    slack_at: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def branch_element(self) -> list[tuple[str, int]]: ...

    def describe(self) -> str:
        """One line: what the formulation models and how it is corrected."""
        ...

    def variable_network(self, lp: LinearProgram) -> None:
        """Add the network variable families."""
        ...

    def constraint_network(self, lp: LinearProgram, index: ProblemIndex) -> None:
        """Add the network constraint families (balance, voltage band, thermal, head)."""
        ...

    def linearized_at(self, voltages: np.ndarray, *, keep_watched: bool = True) -> Formulation:
        """The formulation at the AC operating point ``voltages`` (periods x buses) [pu]."""
        ...

    def corrected(self, live: LpSolver, point: AcPoint) -> Formulation:
        """Correct the model at the AC operating point ``point``: ``self`` with ``live`` (the
        solver of ``point.lp``) updated in place, or a new formulation whose LP must be built."""
        ...


def make_formulation(
    name: str,
    model: AcModel,
    branches: tuple[list[tuple[str, int]], np.ndarray],
    fixed: np.ndarray,
    der_row: np.ndarray,
    limits: DispatchLimits,
) -> Formulation:
    """The formulation called ``name`` for this feeder and request.

    ``branches`` is :func:`~solvers.opf.network.branch_ratings` of the model.
    """
    elements, ratings = branches
    if name == "lindistflow":
        network = radial_network(model, elements, ratings, limits.max_loading_percent)
        return LinDistFlow(network, model, fixed, der_row, limits)
    if name == "linearized-ac":
        return SensitivityAc(model, fixed, der_row, limits, ratings, elements)
    if name == "linearized-ac-full":
        return LinearizedAc(model, fixed, der_row, limits, ratings, elements)
    raise ValueError(f"unknown formulation '{name}'; use one of {FORMULATIONS}")
