"""The service that ``test_hostile_inputs.py`` attacks: on each backend, a feeder, a DER, a group
and a dispatch run, with sentinel modules on the server's ``PYTHONPATH``
(:mod:`hostile_uploads`); valid bodies per schema for the probes (:mod:`hostile_probes`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile_probes import Probe, probes
from hostile_uploads import SENTINEL_SOURCE, SENTINELS
from payloads import REACTIVE, ev_body, pv_body
from service_fixtures import BACKENDS, ApiServer, api_server, fresh_database

from gridderms.persistence.migrate import upgrade

FEEDER = "hx"
DER = "pv-hx"
GROUP = "g-hx"
UPLOAD = "/feeders/upload"
PV = pv_body(DER)
EV = ev_body("ev-hx")
FLEX = {
    "der_type": "flexible_load",
    "der_id": "fl-hx",
    "name": "pump",
    "bus": 9,
    "reactive": REACTIVE,
    "p_min_mw": 0.0,
    "p_baseline_mw": 0.01,
    "p_max_mw": 0.02,
    "window_start": "2024-06-21T08:00:00Z",
    "window_end": "2024-06-21T12:00:00Z",
}
#: one 15-min period of the model as given: a dispatch that costs a fraction of a second
DISPATCH = {
    "start": "2024-06-21T10:00:00Z",
    "horizon_h": 0.25,
    "step_minutes": 15,
    "snapshot": True,
    "execution": "inline",
    "vm_min_pu": 0.85,
    "vm_max_pu": 1.1,
    "max_loading_percent": 200.0,
}
MEASUREMENT = {"der_id": DER, "measured_at": "2024-06-21T09:55:00Z", "p_mw": 0.01}
#: valid bodies per schema; those that would start work are refused at the end (409: the
#: feeder is not at version 999, 404: no such built-in or switch) once they are valid
BASES: dict[str, list[Any]] = {
    "FeederCreate": [{"builtin": "no-such-builtin", "name": "hx-new"}],
    "FeederLocationUpdate": [
        {"latitude_deg": 48.4, "longitude_deg": 7.9, "altitude_m": 150.0, "tz": "Europe/Berlin"}
    ],
    "SwitchOperation": [{"expected_version": 0}],
    "ModeUpdate": [{"operating_mode": "manual"}],
    "DerRecord": [{**PV, "der_id": "pv-hx-2"}, EV, FLEX],
    "PUT DerRecord": [PV],
    "OverrideSet": [{"p_mw": 0.01, "q_mvar": 0.0}],
    "DerCapabilityUpdate": [{"p_nameplate_mw": 0.05, "reactive": REACTIVE}],
    "DerAvailabilityUpdate": [{"status": "available", "p_available_mw": 0.01}],
    "DerGroupCreate": [{"name": "g-hx-2", "by": "custom", "members": [DER]}],
    "DerGroupUpdate": [{"by": "type", "value": "pv"}],
    "TelemetryBatchCreate": [{"measurements": [{**MEASUREMENT, "client_id": "c-1"}]}],
    "DispatchRunCreate": [{**DISPATCH, "expected_feeder_version": 999}],
    "HostingCapacityCreate": [{"mode": "gen", "buses": [1], "expected_feeder_version": 999}],
    "ApiKeyCreate": [{"name": "hx-key", "role": "viewer"}],
}


@dataclass
class Target:
    """The service on one backend, with a loaded feeder, a DER, a group and a dispatch run."""

    backend: str
    server: ApiServer
    markers: Path
    run_id: str
    doc: dict[str, Any]

    def client(self, role: str | None = "admin") -> httpx.Client:
        """A client sending the key of ``role``."""
        return self.server.client(role)


def _write_sentinels(directory: Path) -> None:
    directory.mkdir()
    for name in SENTINELS:
        (directory / f"{name}.py").write_text(SENTINEL_SOURCE)


def _prepare(backend: str, server: ApiServer, markers: Path) -> Target:
    with server.client("admin") as admin:
        loaded = admin.post("/feeders", json={"builtin": "baran-wu-33", "name": FEEDER})
        assert loaded.status_code == 201, loaded.text
        assert admin.post(f"/feeders/{FEEDER}/ders", json=PV).status_code == 201
        group = {"name": GROUP, "by": "type", "value": "pv"}
        assert admin.post(f"/feeders/{FEEDER}/der-groups", json=group).status_code == 201
        run = admin.post(f"/feeders/{FEEDER}/dispatch-runs", json=DISPATCH)
        assert run.status_code == 201, run.text
        doc = admin.get("/openapi.json").json()
    return Target(backend, server, markers, run.json()["run_id"], doc)


@contextlib.contextmanager
def hostile_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    """The service on each backend, sentinel modules on its ``PYTHONPATH``."""
    with contextlib.ExitStack() as stack:
        running = {}
        for backend in BACKENDS:
            directory = tmp_path_factory.mktemp(f"hostile-{backend}")
            _write_sentinels(directory / "modules")
            markers = directory / "imported"
            markers.mkdir()
            url = fresh_database(backend, directory)
            upgrade(url)
            server = stack.enter_context(
                api_server(
                    url,
                    directory / "server.log",
                    PYTHONPATH=str(directory / "modules"),
                    HX_SENTINEL_MARKERS=str(markers),
                )
            )
            running[backend] = _prepare(backend, server, markers)
        yield running


def real_values(target: Target) -> dict[str, dict[str, str]]:
    """The real value of each path parameter on ``target`` (see :func:`hostile_probes.probes`)."""
    defaults = {
        "feeder": FEEDER,
        "der_id": DER,
        "name": GROUP,
        "run_id": target.run_id,
        "switch_id": "2147483647",
        "schedule_id": "2147483647",
        "alarm_id": "1",
    }
    return {"*": defaults, "/keys/{name}": {"name": "no-such-key"}}


def all_probes(target: Target) -> list[Probe]:
    """Every hostile request for ``target`` (:func:`hostile_probes.probes`)."""
    return list(probes(target.doc, real_values(target), BASES, target.server.keys["admin"]))
