"""Alembic environment; it reads its database URL without the service settings.

The URL is, in order:

1. the Alembic option ``sqlalchemy.url``, which :func:`gridderms.persistence.migrate.upgrade`
   (and so ``gridderms-service migrate``) sets;
2. ``-x url=...`` on the ``alembic`` command line;
3. the environment variable ``GRIDDERMS_DATABASE_URL``;
4. the service's default database, SQLite ``gridderms.db`` under ``GRIDDERMS_DATA_DIR`` (else
   ``$XDG_DATA_HOME/gridderms``, else ``~/.local/share/gridderms``),

so ``alembic upgrade head`` in a clone and ``gridderms-service migrate`` act on the same
database.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from pathlib import Path

from alembic import context

from gridderms.persistence.database import make_engine
from gridderms.persistence.models import Base

config = context.config
target_metadata = Base.metadata
if config.config_file_name is not None:  # run by the `alembic` command with alembic.ini
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _default_sqlite_url() -> str:
    """The service's default database: ``gridderms.db`` in its data folder."""
    folder = os.environ.get("GRIDDERMS_DATA_DIR")
    if not folder:
        share = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        folder = str(Path(share) / "gridderms")
    return f"sqlite:///{Path(folder) / 'gridderms.db'}"


def _url() -> str:
    """The database URL (see the module documentation for the order)."""
    return (
        config.get_main_option("sqlalchemy.url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("GRIDDERMS_DATABASE_URL")
        or _default_sqlite_url()
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection (one transaction)."""
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
