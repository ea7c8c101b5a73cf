"""Persistence of the dispatch service: SQLAlchemy 2.0 models (:mod:`.models`), engines and
sessions (:mod:`.database`), the packaged Alembic migrations (:mod:`.migrate`,
``migrations/``), and every query, one repository module per aggregate:

- :mod:`.feeders`: feeders, their topology history and uploaded files;
- :mod:`.ders`: DERs and DER groups;
- :mod:`.runs`: dispatch runs and their schedules (points, envelopes, the one-transaction
  write and activation);
- :mod:`.jobs`: the compare-and-set status changes of job rows (runs and studies);
- :mod:`.studies`: hosting-capacity studies and their per-bus tables;
- :mod:`.alarms`, :mod:`.commands`, :mod:`.audit`, :mod:`.api_keys`,
  :mod:`.telemetry_store`: alarms, commands for the SCADA bridge, the audit trail, API keys
  and telemetry;
- :mod:`.errors`: :class:`~.errors.RecordNotFoundError` and unique adds.

Nothing outside this package builds a query. SQLite is the embedded default; PostgreSQL is
reached with ``GRIDDERMS_DATABASE_URL=postgresql+psycopg://user@host:port/db``.
"""
