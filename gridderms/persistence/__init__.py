"""Persistence of the dispatch service: SQLAlchemy 2.0 models, engines and sessions, Alembic
migrations (packaged) and repositories.

SQLite is the embedded default; PostgreSQL is reached with
``GRIDDERMS_DATABASE_URL=postgresql+psycopg://user@host:port/db``.
"""
