"""API under concurrent load: latency (p50, p99) and throughput of ``GET
feeders/{f}/schedules/active`` and ``POST feeders/{f}/telemetry`` over loopback HTTP.

For each database (an SQLite file; a throwaway PostgreSQL 15 server from
``scripts/postgres.sh``, which runs it with ``fsync=off``) the service runs as in production
(``uvicorn api.app:create_app --factory``, one process) on a free 127.0.0.1 port with the demo
feeder ``cigre-mv-der`` loaded (15 DERs) and an active 4-period schedule (60 points). Then, per
route, ``--clients`` concurrent asyncio + httpx clients (one connection each, keep-alive) send
requests back to back for ``--seconds`` after a 1 s warm-up; every answer must be 200/201.
A telemetry request carries ``--batch`` DER measurements.

Prints a table and writes ``benchmarks/results/api_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import REPO
from payloads import FEASIBLE
from service_fixtures import api_server, fresh_database

from gridderms.persistence.migrate import upgrade

CACHE = REPO / ".cache" / "feeders"
RESULTS = Path(__file__).parent / "results" / "api_load.json"
FEEDER = "cigre-mv-der"


@contextmanager
def _server(backend: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Serve the API on a fresh, migrated database of ``backend`` (``sqlite``, or a database
    on the throwaway PostgreSQL server); yield the base URL and the keys."""
    with tempfile.TemporaryDirectory(prefix="gridderms-bench-") as directory:
        url = fresh_database(backend, Path(directory))
        upgrade(url)
        env = {"GRIDDERMS_CACHE_DIR": os.environ.get("GRIDDERMS_CACHE_DIR", str(CACHE))}
        with api_server(url, Path(directory) / "server.log", quiet=True, **env) as server:
            yield server.base + "/api/v1", server.keys


def _prepare(base: str, keys: dict[str, str]) -> int:
    """Load the demo feeder in automatic mode with an active schedule; return its DER count."""
    with httpx.Client(base_url=base, headers={"X-API-Key": keys["admin"]}, timeout=300) as admin:
        admin.post("/feeders", json={"builtin": FEEDER}).raise_for_status()
        admin.put(
            f"/feeders/{FEEDER}/mode", json={"operating_mode": "automatic"}
        ).raise_for_status()
        run = admin.post(f"/feeders/{FEEDER}/dispatch-runs", json=FEASIBLE)
        run.raise_for_status()
        if run.json()["status"] != "optimal":
            raise SystemExit(f"the demo dispatch is {run.json()['status']}")
        admin.get(f"/feeders/{FEEDER}/schedules/active").raise_for_status()
        return len(admin.get(f"/feeders/{FEEDER}/ders").json())


Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def _load(
    base: str, key: str, request: Request, clients: int, seconds: float, expected: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    warm_until = time.perf_counter() + 1.0
    stop_at = warm_until + seconds

    async def client(index: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base, headers={"X-API-Key": key}, timeout=60, limits=limits
        ) as http:
            sequence = 0
            while (now := time.perf_counter()) < stop_at:
                response = await request(http, index * 1_000_000 + sequence)
                sequence += 1
                elapsed = time.perf_counter() - now
                if response.status_code != expected:
                    errors += 1
                elif now >= warm_until:
                    latencies.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.perf_counter() - max(started, warm_until)
    samples = np.asarray(latencies) * 1e3
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(samples, 50)) if len(samples) else None,
        "p99_ms": float(np.percentile(samples, 99)) if len(samples) else None,
        "mean_ms": float(statistics.fmean(samples)) if len(samples) else None,
    }


def bench_backend(name: str, clients: int, seconds: float, batch: int) -> list[dict]:
    """Both routes on one database."""
    rows = []
    with _server(name) as (base, keys):
        n_ders = _prepare(base, keys)
        der_ids = [f"sgen-{i}" for i in range(min(n_ders, batch))]
        t0 = datetime(2024, 6, 21, 10, tzinfo=UTC)

        async def get_active(http: httpx.AsyncClient, _: int) -> httpx.Response:
            return await http.get(f"/feeders/{FEEDER}/schedules/active")

        async def post_telemetry(http: httpx.AsyncClient, sequence: int) -> httpx.Response:
            at = (t0 + timedelta(milliseconds=sequence)).isoformat()
            body = {
                "measurements": [
                    {"der_id": der, "measured_at": at, "p_mw": 0.01, "quality": "good"}
                    for der in der_ids
                ]
            }
            return await http.post(f"/feeders/{FEEDER}/telemetry", json=body)

        cases: list[tuple[str, str, Request, int]] = [
            ("GET schedules/active", keys["viewer"], get_active, 200),
            (f"POST telemetry ({len(der_ids)} measurements)", keys["adms"], post_telemetry, 201),
        ]
        for route, key, request, expected in cases:
            result = asyncio.run(_load(base, key, request, clients, seconds, expected))
            rows.append({"database": name, "route": route, "clients": clients, **result})
            print(
                f"  {name:10s} {route:34s} {result['throughput_rps']:7.0f} req/s  "
                f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
                f"errors {result['errors']}",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=10, help="measurements per telemetry POST")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for name in args.databases.split(","):
        rows += bench_backend(name, args.clients, args.seconds, args.batch)
    header = "| database | route | clients | requests | req/s | p50 ms | p99 ms | errors |"
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['database']} | {r['route']} | {r['clients']} | {r['requests']} | "
            f"{r['throughput_rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    print("\n".join(lines))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "api_load",
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "settings": {
                    "clients": args.clients,
                    "seconds": args.seconds,
                    "telemetry_batch": args.batch,
                    "server": "uvicorn, 1 process, loopback",
                    "postgresql": "15, scripts/postgres.sh (fsync=off, synchronous_commit=off)",
                },
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
