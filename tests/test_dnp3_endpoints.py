"""Endpoint files: written by the simulator, read by the bridge; every problem named by the
file, the entry and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scada_bridge.endpoints import (
    Endpoint,
    EndpointFileError,
    load_endpoints,
    parse_endpoints,
    write_endpoints,
)

GOOD = {"der_id": "pv1", "host": "127.0.0.1", "port": 20100}


def test_an_endpoint_file_round_trips(tmp_path: Path) -> None:
    endpoints = [Endpoint("pv1", "127.0.0.1", 20100), Endpoint("bat1", "127.0.0.1", 20101, 3, 11)]
    path = tmp_path / "endpoints.json"
    write_endpoints(path, "demo", endpoints)
    assert load_endpoints(path) == ("demo", endpoints)
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"feeder": "f", "endpoints": [{**GOOD, "port": 0}]},
         r"endpoints\[0\]: field 'port' 0 is outside 1-65535"),
        ({"feeder": "f", "endpoints": [{**GOOD, "port": "20100"}]},
         r"endpoints\[0\]: field 'port' must be int, got '20100'"),
        ({"feeder": "f", "endpoints": [{"der_id": "pv1", "port": 1}]},
         r"endpoints\[0\]: field 'host' is missing"),
        ({"feeder": "f", "endpoints": [{**GOOD, "outstation_address": 70000}]},
         r"field 'outstation_address' 70000 is outside 0-65519"),
        ({"feeder": "f", "endpoints": [{**GOOD, "point_map": "sunspec"}]},
         r"field 'point_map' 'sunspec' is not a shipped point map"),
        ({"feeder": "f", "endpoints": [{**GOOD, "tls": True}]},
         r"unknown field\(s\) \['tls'\]"),
        ({"feeder": "f", "endpoints": [GOOD, {**GOOD, "port": 20101}]},
         r"endpoints\[1\]: DER 'pv1' already has endpoints\[0\]"),
        ({"feeder": "f", "endpoints": [GOOD, {**GOOD, "der_id": "pv2"}]},
         r"endpoints\[1\]: 127.0.0.1:20100 is already endpoints\[0\]"),
        ({"endpoints": []}, r"field 'feeder' must name the feeder"),
        ({"feeder": "f"}, r"expected an object with a list 'endpoints'"),
    ],
)  # fmt: skip
def test_each_problem_is_named(document: object, message: str) -> None:
    with pytest.raises(EndpointFileError, match=r"^site\.json: .*" + message):
        parse_endpoints(json.dumps(document), "site.json")


def test_unreadable_and_non_json_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(EndpointFileError, match=r"nowhere\.json: cannot be read"):
        load_endpoints(tmp_path / "nowhere.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(EndpointFileError, match=r"broken\.json: not JSON"):
        load_endpoints(broken)
