"""Route modules of the API, one per resource (feeders, DERs, DER groups, telemetry, dispatch,
hosting capacity, alarms and commands, audit and keys, system), and :mod:`.feeder_upload`, the
reading of an uploaded feeder file. Handlers stay thin: they call the services of
:mod:`gridderms.service` and build the response models of :mod:`api.schemas`; they import no
ORM row and no SQLAlchemy.
"""
