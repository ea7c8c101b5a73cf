"""Network-constrained DER dispatch: an LP on a linear network formulation, verified by AC power
flow and corrected until the schedule meets the limits, or a diagnosis of the limits that must
give.

* :mod:`.request`: the request and result types; :mod:`.names`: the formulation and objective
  names;
* :mod:`.fleet`, :mod:`.aggregation`: the DERs as arrays, interchangeable DERs merged for the LP;
* problem building: :mod:`.problem` (index, network-level families), :mod:`.der_families`,
  :mod:`.objective`, assembled by :mod:`.build`;
* formulations (:mod:`.formulation`, the protocol and the factory): :mod:`.lindistflow` on
  :mod:`.network` (radial), :mod:`.sensitivity_ac` and :mod:`.linearized_ac` (linearised AC);
* the AC verification loop: :mod:`.ac_points` (AC power flows of schedules), :mod:`.ac_loop`
  (solve, verify, correct), :mod:`.pipeline` (:func:`~solvers.opf.pipeline.run_dispatch`:
  attempts and fall-backs);
* :mod:`.diagnosis` (infeasible requests), :mod:`.envelopes` (operating envelopes),
  :mod:`.results` (result extraction);
* :mod:`.reference`: pandapower's own OPF (``runopp``) for comparisons.
"""
