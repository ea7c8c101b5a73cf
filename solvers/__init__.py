"""The solvers on pandapower feeder models, above :mod:`network_models` and below
:mod:`gridderms`.

* :mod:`.powerflow` (one AC power flow with a tidy result), :mod:`.acmodel` (the compiled AC
  model, cached on the feeder) and :mod:`.timeseries` (the compiled time-series fast path);
* :mod:`.limits`: the limits vocabulary (operating limits, per-bus overrides, feeder-head and
  hosting-capacity limits, AC tolerances, one limit-breach type), :mod:`.violations`: the
  limit breaches of power-flow results;
* :mod:`.lp`: the LP builder and its HiGHS backends (highspy, Pyomo);
* :mod:`.opf`: network-constrained DER dispatch verified by AC power flow;
* :mod:`.hosting_capacity`: per-bus and time-series hosting capacity, static and managed;
* :mod:`.cancel`: cooperative cancellation of long solver work.

The OPF and hosting capacity are siblings: both build their LPs on :mod:`.lp` and check them by
AC power flow; neither imports the other.
"""
