"""Alembic environment: the URL comes from the Alembic config, else ``GRIDDERMS_DATABASE_URL``
(else the service default), so ``alembic upgrade head`` and ``gridderms-service migrate`` act
on the same database."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from gridderms.persistence.database import make_engine
from gridderms.persistence.models import Base

config = context.config
target_metadata = Base.metadata
if config.config_file_name is not None:  # run by the `alembic` command with alembic.ini
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from gridderms.service.settings import ServiceSettings

    return ServiceSettings().database_url


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
