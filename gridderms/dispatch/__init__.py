"""Dispatch of a loaded feeder, the domain use case between the DER registry and the OPF.

:mod:`.feeder_dispatch` (:func:`~gridderms.dispatch.feeder_dispatch.dispatch_feeder`): DERs, a
forecast, limits and an objective in, a schedule verified by AC power flow (or a diagnosis)
out, through :func:`solvers.opf.pipeline.run_dispatch`. :mod:`.horizon` is the dispatch
horizon, :mod:`.forecast` the available power and load per period, :mod:`.fleet` the DERs as
the OPF's arrays. The service layer's dispatch runs (persisted, activated) are
:mod:`gridderms.service.dispatch_runs`.
"""
