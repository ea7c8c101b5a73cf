"""gridderms domain package: DERs, forecasts, dispatch, studies as a service, persistence.

Above :mod:`solvers` and :mod:`network_models`, below the API (:mod:`api`) and the SCADA
bridge (:mod:`scada_bridge`):

* :mod:`gridderms.ders`: the DER registry (typed records, reactive capability, import and
  export, groups, set-point checks);
* :mod:`gridderms.forecast`: PV and load forecasts by the clock and the feeder's location (the
  forecasts on the real clock will live here too);
* :mod:`gridderms.dispatch`: the dispatch of a loaded feeder (horizon, forecast, DER fleet) on
  top of the OPF;
* :mod:`gridderms.hosting`: hosting-capacity studies run and exported; :mod:`gridderms.reports`:
  their pictures (matplotlib);
* :mod:`gridderms.persistence`: the database (models, migrations, repositories);
  :mod:`gridderms.service`: the domain services the API calls;
* :mod:`gridderms.cli`: the ``gridderms`` command line, with :mod:`gridderms.output` and
  :mod:`gridderms.cli.tables`; :mod:`gridderms.config`: settings from the environment;
  :mod:`gridderms.bounds`: the bounds of every input.

Coming: the control loop in ``gridderms/control/``, studies in ``gridderms/studies/``; the
dashboard will be served by :mod:`api` (under ``api/``), the DNP3 side in :mod:`scada_bridge`.
"""
