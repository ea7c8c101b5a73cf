"""Hosting capacity: how much new generation or load each bus takes within network limits.

Per bus an LP on the linearised AC model (one persistent HiGHS model per component) gives an
estimate that an AC power-flow search refines to a stated tolerance; the binding limit is the
one the AC power flow just above the capacity violates. See :mod:`.static` (worst-case
operating point), :mod:`.timeseries` (per profile step), :mod:`.managed` (curtailable DER)
and :mod:`.reference` (brute-force bisection with ``pandapower.runpp``, for comparisons).

The pieces: :mod:`.components` (the feeder split at its sources), :mod:`.operating_point`
(the loads and DERs a study assumes), :mod:`.lp` (the linear estimate, an LP of
:mod:`solvers.lp`), :mod:`.ac_check` (one AC power flow and its worst limit, a
:class:`~solvers.limits.LimitBreach`), :mod:`.relaxation` (limits the operating point already
violates), :mod:`.refine` (the AC search). The limits are :class:`solvers.limits.StudyLimits`;
pictures of a study are drawn outside the solvers (:mod:`gridderms.reports`).
"""
