"""Domain services of the dispatch API: feeders, DERs, telemetry, dispatch runs, schedules,
API keys and the audit trail, on top of :mod:`gridderms.persistence`.

The HTTP layer (:mod:`api`) stays thin: it validates input, checks roles and calls these
functions, which raise the errors of :mod:`gridderms.service.errors`.
"""
