"""Feeder location and time zone (network_models.location), and horizon starts read on the
feeder's clock (gridderms.dispatch.horizon.parse_start)."""

from __future__ import annotations

import copy

import pandapower as pp
import pandas as pd
import pytest

from gridderms.dispatch.horizon import parse_start
from network_models.errors import FeederFileError
from network_models.loaders import load_feeder
from network_models.location import (
    DEFAULT_LOCATION,
    FeederLocation,
    LocationError,
    parse_location,
    zone,
)


def test_builtin_feeders_carry_their_real_region(cache_dir) -> None:
    oberrhein = load_feeder("mv-oberrhein", cache_dir=cache_dir).location
    assert (oberrhein.latitude_deg, oberrhein.longitude_deg, oberrhein.tz) == (
        48.4,
        7.9,
        "Europe/Berlin",
    )
    assert oberrhein.source == "builtin"
    for name in ("cigre-mv-der", "lv-schutterwald", "1-LV-rural1--0-sw"):
        location = load_feeder(name, cache_dir=cache_dir).location
        assert location.tz == "Europe/Berlin" and location.source == "builtin", name


def test_a_feeder_without_a_location_gets_the_default_with_a_note(cache_dir) -> None:
    feeder = load_feeder("baran-wu-33", cache_dir=cache_dir)
    assert feeder.location == DEFAULT_LOCATION and feeder.location.source == "default"
    (note,) = [n for n in feeder.notes if "declares no location" in n]
    assert "51.2 N 10.4 E" in note and "--location" in note


def test_the_models_own_location_entry_is_read(cache_dir, tmp_path) -> None:
    net = copy.deepcopy(load_feeder("baran-wu-33", cache_dir=cache_dir).net)
    net["location"] = {"latitude_deg": 12.97, "longitude_deg": 77.59, "tz": "Asia/Kolkata"}
    path = tmp_path / "bw.json"
    pp.to_json(net, str(path))
    feeder = load_feeder(path, validate=False)
    assert feeder.location == FeederLocation(12.97, 77.59, 0.0, "Asia/Kolkata", "model")
    assert not any("declares no location" in n for n in feeder.notes)
    net["location"] = {"latitude_deg": 12.97, "longitude_deg": 77.59, "tz": "India/Bangalore"}
    pp.to_json(net, str(path))
    with pytest.raises(FeederFileError, match="unknown time zone 'India/Bangalore'"):
        load_feeder(path, validate=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("48.4", "LAT,LON"),
        ("48.4,x", "must be numbers"),
        ("91,7.9", r"latitude_deg must be in \[-90, 90\], got 91.0"),
        ("48.4,181", "longitude_deg must be in"),
        ("48.4,7.9,nan", "altitude_m must be in"),
    ],
)
def test_bad_locations_are_named(text: str, message: str) -> None:
    with pytest.raises(LocationError, match=message):
        parse_location(text, "Europe/Berlin")


@pytest.mark.parametrize("name", ["Europe", "Mars/Olympus", "", "x" * 300])
def test_unknown_time_zones_are_named(name: str) -> None:
    with pytest.raises(LocationError, match="time zone"):
        zone(name)


def test_start_is_local_time_without_an_offset_and_absolute_with_one() -> None:
    summer = parse_start("2026-06-22T12:00", "Europe/Berlin", 15)
    assert summer == pd.Timestamp("2026-06-22 10:00", tz="UTC")  # CEST
    winter = parse_start("2026-01-14T12:00", "Europe/Berlin", 15)
    assert winter == pd.Timestamp("2026-01-14 11:00", tz="UTC")  # CET
    assert parse_start("2026-06-22T12:00Z", "Europe/Berlin", 15) == pd.Timestamp(
        "2026-06-22 12:00", tz="UTC"
    )
    now = pd.Timestamp("2026-12-01 21:37:12", tz="UTC")
    assert parse_start(None, "UTC", 15, now=now) == pd.Timestamp("2026-12-01 21:30", tz="UTC")
    assert parse_start("now", "UTC", 60, now=now) == pd.Timestamp("2026-12-01 21:00", tz="UTC")


@pytest.mark.parametrize(
    ("text", "message"), [("tomorrow", "not a date-time"), ("0001-01-01", "years")]
)
def test_bad_starts_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_start(text, "Europe/Berlin", 15)
