"""``gridderms-service``: migrate the database, manage API keys, run the API, run the demo.

Examples
--------
``gridderms-service migrate`` upgrades the database of ``GRIDDERMS_DATABASE_URL``;
``gridderms-service create-key ops --role operator`` prints a new key once;
``gridderms-service serve`` runs uvicorn on 127.0.0.1:8000;
``gridderms-service demo`` migrates, loads ``cigre-mv-der`` with its DERs, computes a first
schedule, creates a demo admin key, prints the URL and the key, and serves.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gridderms.persistence.database import display_url, make_engine, session_factory
from gridderms.persistence.migrate import downgrade, migrate_url
from gridderms.persistence.repositories import RecordNotFoundError, feeder_by_name
from gridderms.service.auth import ROLES, SYSTEM, create_key
from gridderms.service.settings import ServiceSettings

DEMO_FEEDER = "cigre-mv-der"


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
        demo_setup(settings, args.host, args.port)
    return serve(settings, args.host, args.port)


def demo_setup(settings: ServiceSettings, host: str, port: int) -> None:
    """Migrate, load the demo feeder with its DERs, compute a first schedule (automatic mode)
    and print the URL and a fresh demo admin key."""
    from gridderms.service.dispatch import DispatchSpec, execute_run, request_run
    from gridderms.service.feeders import FeederModels, load_builtin, set_mode

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
            spec = DispatchSpec.model_validate_json(
                '{"start": "2024-06-21T10:00:00Z", "horizon_h": 1.0, "step_minutes": 15,'
                ' "vm_min_pu": 0.9, "vm_max_pu": 1.1, "max_loading_percent": 200.0}'
            )
            run, _ = request_run(session, models, SYSTEM, DEMO_FEEDER, spec, 0)
        status = execute_run(
            factory, models, run.run_id, settings.operating_limits(), settings.telemetry_max_age_s
        )
        with factory() as session:
            import secrets

            _, plain = create_key(session, SYSTEM, f"demo-admin-{secrets.token_hex(3)}", "admin")
    finally:
        engine.dispose()
    base = f"http://{host}:{port}"
    print(f"gridderms service: {base}/api/v1  (docs: {base}/api/v1/docs)")
    print(f"database:          {display_url(url)}")
    print(f"demo feeder:       {DEMO_FEEDER} (automatic mode), first dispatch {status}")
    print(f"demo API key:      {plain}   (role admin; send as X-API-Key)")
    print(
        f"try:               curl -H 'X-API-Key: {plain}' "
        f"{base}/api/v1/feeders/{DEMO_FEEDER}/schedules/active"
    )
    sys.stdout.flush()


def serve(settings: ServiceSettings, host: str, port: int) -> int:
    """Run uvicorn with the app (refuses to start on an unmigrated database)."""
    import uvicorn

    from api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
