"""Feeder models: the pandapower nets of distribution feeders, loaded, validated and traced.

The bottom floor of the house (it imports no other gridderms package):

* loading: :mod:`.builtin` (the built-in feeders and SimBench codes), :mod:`.loaders` (files
  and built-ins, cached), :mod:`.safe_json` (pandapower JSON read without importing what a
  file names; its value checks in :mod:`.json_values`), :mod:`.profiles` (load and
  generation profiles), :mod:`.location` (where a feeder is and its time zone);
* validation: :mod:`.validation` runs the :mod:`.structural_checks` (types, ids, references)
  and the :mod:`.electrical_checks` (impedances, ratings, voltages, supply) and reports every
  problem at once;
* topology: :mod:`.graph` (the switch-aware networkx graph), :mod:`.connectivity` (islands,
  tracing from the sources, feeder heads, meshes), :mod:`.topology` (the cached
  :class:`~network_models.topology.FeederTopology`), :mod:`.switching` (opening and closing
  a switch);
* :mod:`.feeder`: a loaded :class:`~network_models.feeder.Feeder` (net, profiles, location,
  topology, and the typed cache of the models compiled from it, :mod:`.model_cache`);
  :mod:`.errors`: the errors of all of these.

Power flow, the OPF and hosting capacity are one floor up, in :mod:`solvers`.
"""
