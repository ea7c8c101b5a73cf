"""``gridderms-service``: migrate the database, manage API keys, run the API, run the demo.

Examples
--------
``gridderms-service migrate`` upgrades the database of ``GRIDDERMS_DATABASE_URL``;
``gridderms-service create-key ops --role operator`` prints a new key once;
``gridderms-service serve`` runs uvicorn on 127.0.0.1:8000;
``gridderms-service demo`` migrates, loads ``cigre-mv-der`` with its DERs, dispatches it for
the next 4 h from now, creates a demo admin key, prints the URL and the key, and serves while a
background thread re-dispatches the demo feeder every 15 min (its schedule stays current).

A refused command (an unmigrated or unreachable database, a key name that exists, an invalid
``GRIDDERMS_*`` setting) ends with one line ``gridderms-service: error: <message>`` on stderr,
naming the fix, and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError

from gridderms.bounds import check_name
from gridderms.output import error, one_line, settings_problem
from gridderms.persistence.database import display_url, make_engine, session_factory
from gridderms.persistence.errors import RecordNotFoundError
from gridderms.persistence.feeders import feeder_by_name
from gridderms.persistence.migrate import (
    DatabaseNotMigratedError,
    check_migrated,
    downgrade,
    migrate_url,
)
from gridderms.service.auth import create_key
from gridderms.service.errors import ConflictError, ServiceError
from gridderms.service.principals import ROLES, SYSTEM
from gridderms.service.settings import ServiceSettings

if TYPE_CHECKING:  # the demo's imports (pandapower, pandas) load only for the demo
    import pandas as pd

    from gridderms.service.feeder_models import FeederModels

DEMO_FEEDER = "cigre-mv-der"
PROG = "gridderms-service"
logger = logging.getLogger(__name__)


def _key_name(text: str) -> str:
    """An API key's name of the :data:`~gridderms.bounds.NAME_PATTERN` (an argparse type)."""
    try:
        return check_name(text, "name")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gridderms-service``."""
    parser = argparse.ArgumentParser(prog="gridderms-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    down = commands.add_parser("downgrade", help="downgrade the schema (default: drop it all)")
    down.add_argument("revision", nargs="?", default="base")
    key = commands.add_parser("create-key", help="create an API key and print it once")
    key.add_argument("name", type=_key_name)
    key.add_argument("--role", choices=ROLES, required=True)
    for name in ("serve", "demo"):
        sub = commands.add_parser(name, help=f"{name} the API")
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        settings = ServiceSettings()
    except ValidationError as exc:
        return error(settings_problem(exc), PROG)
    url = settings.database_url
    try:
        return run_command(args, settings)
    except KeyboardInterrupt:
        return 130
    except (DatabaseNotMigratedError, ServiceError, RecordNotFoundError) as exc:
        return error(str(exc), PROG)
    except ArgumentError as exc:  # not a URL SQLAlchemy can use (nor a driver it has)
        return error(
            f"GRIDDERMS_DATABASE_URL is not a usable database URL ({_reason(exc)}): give e.g. "
            f"sqlite:////var/lib/gridderms/gridderms.db or "
            f"postgresql+psycopg://user@host:5432/gridderms",
            PROG,
        )
    except DBAPIError as exc:  # the driver's own: unreachable, refused, unreadable, locked
        return error(
            f"cannot use the database {_shown(url)}: {_reason(exc.orig or exc)}; check "
            f"GRIDDERMS_DATABASE_URL and that the database can be reached",
            PROG,
        )
    except CommandError as exc:  # Alembic: a revision it does not know
        fix = (
            f"give one of {', '.join(_revisions())}"
            if args.command == "downgrade"
            else "the database was migrated by a newer gridderms: use that version (or its "
            "`gridderms-service downgrade REVISION`)"
        )
        return error(
            f"cannot {args.command} the database {_shown(url)}: {_reason(exc)}; {fix}", PROG
        )
    except ImportError as exc:  # SQLAlchemy knows the dialect, but its driver is missing
        return error(
            f"the database driver for {_shown(url)} is not installed ({_reason(exc)}): use "
            f"sqlite:///PATH or postgresql+psycopg://user@host:5432/gridderms",
            PROG,
        )
    except OSError as exc:  # e.g. the SQLite file's folder cannot be made
        return error(f"database {_shown(url)}: {exc}; check GRIDDERMS_DATABASE_URL", PROG)


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message."""
    lines = str(exc).strip().splitlines()
    return one_line(lines[0]) if lines else type(exc).__name__


def _revisions() -> list[str]:
    """The schema revisions this gridderms knows, oldest first, after ``base``."""
    from alembic.script import ScriptDirectory

    from gridderms.persistence.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return ["base", *reversed([r.revision for r in script.walk_revisions()])]


def _shown(url: str) -> str:
    """``url`` with its password masked (or a placeholder when it cannot be parsed)."""
    try:
        return display_url(url)
    except ArgumentError:
        return "of GRIDDERMS_DATABASE_URL"


def _migrated_engine(url: str) -> Engine:
    """An engine of ``url``, whose database is at the head revision.

    Raises
    ------
    DatabaseNotMigratedError
        It is not; the message names ``gridderms-service migrate``.
    """
    engine = make_engine(url)
    try:
        check_migrated(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def run_command(args: argparse.Namespace, settings: ServiceSettings) -> int:
    """Run the sub-command of ``args``; errors propagate to :func:`main`."""
    url = settings.database_url
    if args.command == "migrate":
        revision = migrate_url(url)
        print(f"database {display_url(url)} is at revision {revision}")
        return 0
    if args.command == "downgrade":
        downgrade(url, args.revision)
        print(f"database {display_url(url)} downgraded to {args.revision}")
        return 0
    if args.command == "create-key":
        engine = _migrated_engine(url)
        try:
            with session_factory(engine)() as session:
                _, plain = create_key(session, SYSTEM, args.name, args.role)
        except ConflictError as exc:
            return error(
                f"{exc}: choose another name, e.g. `gridderms-service create-key "
                f"{args.name}-2 --role {args.role}`",
                PROG,
            )
        finally:
            engine.dispose()
        print(plain)
        return 0
    if args.command == "demo":
        models = demo_setup(settings, args.host, args.port)
        stop = threading.Event()
        start_demo_refresher(settings, models, stop)
        try:
            return serve(settings, args.host, args.port)
        finally:
            stop.set()
    return serve(settings, args.host, args.port)


#: the demo's rolling dispatch: horizon [h] and period [min]; re-dispatched every period
DEMO_HORIZON_H = 4.0
DEMO_STEP_MINUTES = 15


def demo_dispatch(settings: ServiceSettings, models: FeederModels, now: pd.Timestamp) -> str:
    """Dispatch the demo feeder for ``DEMO_HORIZON_H`` from ``now`` (floored to the period)
    within the service's operating limits; return the run's final status."""
    from gridderms.service.dispatch_runs import DispatchSpec, execute_run, request_run

    start = now.tz_convert("UTC").floor(f"{DEMO_STEP_MINUTES}min")
    spec = DispatchSpec(
        start=start.to_pydatetime(),
        horizon_h=DEMO_HORIZON_H,
        step_minutes=DEMO_STEP_MINUTES,
        execution="inline",
    )
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    try:
        with factory() as session:
            run, _ = request_run(session, models, SYSTEM, DEMO_FEEDER, spec, 0)
        return execute_run(
            factory, models, run.run_id, settings.operating_limits(), settings.telemetry_max_age_s
        )
    finally:
        engine.dispose()


def demo_setup(settings: ServiceSettings, host: str, port: int) -> FeederModels:
    """Migrate, load the demo feeder with its DERs, dispatch it for now (automatic mode) and
    print the URL and a fresh demo admin key; return the feeder models for the refresher."""
    import pandas as pd

    from gridderms.service.dispatch_runs import set_mode
    from gridderms.service.feeder_models import FeederModels
    from gridderms.service.feeders import load_builtin

    url = settings.database_url
    migrate_url(url)
    engine = make_engine(url)
    models = FeederModels(settings.cache_dir)
    factory = session_factory(engine)
    try:
        with factory() as session:
            try:
                feeder_by_name(session, DEMO_FEEDER)
            except RecordNotFoundError:
                load_builtin(session, models, SYSTEM, DEMO_FEEDER, None)
                set_mode(session, SYSTEM, DEMO_FEEDER, "automatic")
        status = demo_dispatch(settings, models, pd.Timestamp.now(tz="UTC"))
        with factory() as session:
            import secrets

            _, plain = create_key(session, SYSTEM, f"demo-admin-{secrets.token_hex(3)}", "admin")
    finally:
        engine.dispose()
    base = f"http://{host}:{port}"
    print(f"gridderms service: {base}/api/v1  (docs: {base}/api/v1/docs)")
    print(f"database:          {display_url(url)}")
    print(
        f"demo feeder:       {DEMO_FEEDER} (automatic mode), dispatched for the next "
        f"{DEMO_HORIZON_H:g} h: {status}; re-dispatched every {DEMO_STEP_MINUTES} min"
    )
    print(f"demo API key:      {plain}   (role admin; send as X-API-Key)")
    print(
        f"try:               curl -H 'X-API-Key: {plain}' "
        f"{base}/api/v1/feeders/{DEMO_FEEDER}/schedules/active"
    )
    sys.stdout.flush()
    return models


def start_demo_refresher(
    settings: ServiceSettings, models: FeederModels, stop: threading.Event
) -> threading.Thread:
    """A daemon thread that re-dispatches the demo feeder at every period start, so its
    active schedule always covers the next ``DEMO_HORIZON_H`` hours."""

    import pandas as pd

    def refresh() -> None:
        while True:
            now = pd.Timestamp.now(tz="UTC")
            following = now.floor(f"{DEMO_STEP_MINUTES}min") + pd.Timedelta(
                minutes=DEMO_STEP_MINUTES
            )
            if stop.wait((following - now).total_seconds()):
                return
            try:
                status = demo_dispatch(settings, models, following)
                logger.info("demo re-dispatch from %s: %s", following, status)
            except Exception:  # the refresher must outlive one bad cycle
                logger.exception("demo re-dispatch from %s failed", following)

    thread = threading.Thread(target=refresh, name="demo-refresher", daemon=True)
    thread.start()
    return thread


def serve(settings: ServiceSettings, host: str, port: int) -> int:
    """Run uvicorn with the app (refuses to start on an unmigrated database).

    Raises
    ------
    DatabaseNotMigratedError
        Before uvicorn starts, so the command ends with one line naming the fix.
    """
    import uvicorn

    from api.app import create_app

    _migrated_engine(settings.database_url).dispose()

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
