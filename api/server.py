"""``gridderms-service``: migrate the database, manage API keys, run the API, run the demo.

Examples
--------
``gridderms-service migrate`` upgrades the database of ``GRIDDERMS_DATABASE_URL``;
``gridderms-service create-key ops --role operator`` prints a new key once;
``gridderms-service serve`` runs uvicorn on 127.0.0.1:8000;
``gridderms-service demo`` migrates, loads ``cigre-mv-der`` with its DERs, dispatches it for
the next 4 h from now, creates a demo admin key, prints the URL and the key, and serves while a
background thread re-dispatches the demo feeder every 15 min (its schedule stays current).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence

import pandas as pd

from gridderms.persistence.database import display_url, make_engine, session_factory
from gridderms.persistence.migrate import downgrade, migrate_url
from gridderms.persistence.repositories import RecordNotFoundError, feeder_by_name
from gridderms.service.auth import ROLES, SYSTEM, create_key
from gridderms.service.feeders import FeederModels
from gridderms.service.settings import ServiceSettings

DEMO_FEEDER = "cigre-mv-der"
logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gridderms-service``."""
    parser = argparse.ArgumentParser(prog="gridderms-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    down = commands.add_parser("downgrade", help="downgrade the schema (default: drop it all)")
    down.add_argument("revision", nargs="?", default="base")
    key = commands.add_parser("create-key", help="create an API key and print it once")
    key.add_argument("name")
    key.add_argument("--role", choices=ROLES, required=True)
    for name in ("serve", "demo"):
        sub = commands.add_parser(name, help=f"{name} the API")
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    settings = ServiceSettings()
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
        engine = make_engine(url)
        try:
            with session_factory(engine)() as session:
                _, plain = create_key(session, SYSTEM, args.name, args.role)
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
    from gridderms.service.dispatch import DispatchSpec, execute_run, request_run

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
    from gridderms.service.feeders import load_builtin, set_mode

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
    """Run uvicorn with the app (refuses to start on an unmigrated database)."""
    import uvicorn

    from api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
