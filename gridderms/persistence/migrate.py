"""Schema migrations (Alembic) run from inside the installed package.

The migration scripts live in :mod:`gridderms.persistence.migrations`, so an installed
gridderms can migrate its database without the source tree: ``gridderms-service migrate``
(or ``alembic upgrade head`` from a clone, with ``alembic.ini``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from gridderms.persistence.database import display_url, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseNotMigratedError(RuntimeError):
    """The database schema is missing or not at the revision this code needs."""


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` using the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base``: drop everything)."""
    command.downgrade(alembic_config(url), revision)


def check_migrated(engine: Engine) -> str:
    """Return the head revision, or raise when the database is not migrated to it.

    Raises
    ------
    DatabaseNotMigratedError
        With the (password-masked) URL, the revision found, the one needed and the command
        that fixes it.
    """
    needed = head_revision()
    found = current_revision(engine)
    if found != needed:
        state = "has no gridderms schema" if found is None else f"is at revision {found}"
        raise DatabaseNotMigratedError(
            f"database {display_url(engine)} {state}; this gridderms needs revision {needed}. "
            f"Run `gridderms-service migrate` (or `alembic upgrade head` in a clone) first."
        )
    return needed


def migrate_url(url: str) -> str:
    """Upgrade ``url`` to head and return the revision (convenience for set-up scripts)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        return check_migrated(engine)
    finally:
        engine.dispose()
