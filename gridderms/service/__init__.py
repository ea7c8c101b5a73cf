"""Domain services of the dispatch API, on top of the repositories of
:mod:`gridderms.persistence` (they build no query themselves):

- feeders: :mod:`.feeders` (loading, uploads, location), :mod:`.feeder_models` (the in-memory
  pandapower models, brought to the switch states and version their database row owns),
  :mod:`.feeder_topology` (description, topology, history, switching), :mod:`.feeder_location`;
- DERs: :mod:`.ders`, :mod:`.der_groups`, :mod:`.telemetry`, :mod:`.measured_state`,
  :mod:`.powerflow`;
- dispatch: :mod:`.dispatch_spec` (the request), :mod:`.dispatch_runs` (runs, schedules and
  their activation, operating modes), :mod:`.dispatch_views` (what the API reads of them),
  :mod:`.dispatch_alarms`, :mod:`.activation`, :mod:`.commands`, :mod:`.alarms`;
- hosting capacity: :mod:`.hosting_capacity_spec`, :mod:`.hosting_capacity`;
- jobs, limits and access: :mod:`.jobs`, :mod:`.budget`, :mod:`.auth`, :mod:`.audit_log`,
  :mod:`.principals`, :mod:`.overview`, :mod:`.settings`, :mod:`.errors`,
  :mod:`.json_documents`.

The HTTP layer (:mod:`api`) stays thin: it validates input, checks roles, calls these
functions (which raise the errors of :mod:`gridderms.service.errors`) and shapes their rows
and domain objects into the response models of :mod:`api.schemas`.
"""
