"""The names of the dispatch formulations and objectives, defined once.

The solvers validate against these tuples; the service's request models and the API schemas take
their ``Literal`` types, so a new formulation or objective is added here and nowhere else.
"""

from __future__ import annotations

from typing import Literal, get_args

#: the LP formulations of the AC network (see :mod:`solvers.opf.lindistflow` and
#: :mod:`solvers.opf.linearized_ac`)
FormulationName = Literal["lindistflow", "linearized-ac", "linearized-ac-full"]
FORMULATIONS: tuple[str, ...] = get_args(FormulationName)

#: the objective terms a dispatch can weigh (see :mod:`solvers.opf.problem`)
ObjectiveName = Literal["curtailment", "cost", "track", "peak", "losses"]
OBJECTIVES: tuple[str, ...] = get_args(ObjectiveName)
