"""Hosting capacity: how much new generation or load each bus takes within network limits.

Per bus an LP on the linearised AC model (one persistent HiGHS model per component) gives an
estimate that an AC power-flow search refines to a stated tolerance; the binding limit is the
one the AC power flow just above the capacity violates. See :mod:`.static` (worst-case
operating point), :mod:`.timeseries` (per profile step), :mod:`.managed` (curtailable DER)
and :mod:`.reference` (brute-force bisection with ``pandapower.runpp``, for comparisons).
"""
