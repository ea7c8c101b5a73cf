"""The ``gridderms`` command line, run as a real process where the output is the contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from payloads import CLI_DISPATCH

from gridderms.cli import main
from network_models.builtin import BUILTIN_FEEDERS

GRIDDERMS = Path(sys.executable).with_name("gridderms")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GRIDDERMS), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
        check=False,
    )


def test_powerflow_baran_wu_prints_the_reference_numbers() -> None:
    done = _run("powerflow", "baran-wu-33")
    assert done.returncode == 0, done.stderr
    assert "losses:                 0.2027 MW" in done.stdout
    assert "minimum voltage:        0.9131 pu at bus 17" in done.stdout
    assert "lightsim2grid" in done.stdout


def test_powerflow_json_with_pandapower_backend() -> None:
    done = _run("powerflow", "baran-wu-33", "--json", "--backend", "pandapower")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["losses_mw"] == pytest.approx(0.2027, abs=5e-4)
    assert result["backend"].startswith("pandapower Newton-Raphson")
    assert len(result["bus"]) == 33 and result["violations"][0]["kind"] == "undervoltage"


@pytest.mark.parametrize("name", list(BUILTIN_FEEDERS))
def test_inspect_every_builtin(cache_dir, name, capsys) -> None:
    assert main(["inspect", name]) == 0
    out = capsys.readouterr().out
    assert "feeder:" in out and name in out and "validation:" in out and "passed" in out
    assert main(["inspect", name, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["buses"] > 0 and info["validation"] == "passed"
    assert sum(info["feeder_heads"].values()) + len(info["deenergized_buses"]) == info["buses"]


def test_feeders_lists_every_builtin_with_counts(capsys) -> None:
    assert main(["feeders", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(BUILTIN_FEEDERS)
    assert rows["baran-wu-33"]["buses"] == 33 and rows["cigre-mv-der"]["ders"] == 15
    assert max(row["buses"] for row in rows.values()) > 1000


def test_timeseries_reports_speed_against_runpp() -> None:
    done = _run("powerflow", "1-MV-rural--0-sw", "--steps", "96", "--start", "4000")
    assert done.returncode == 0, done.stderr
    assert "lightsim2grid Newton-Raphson (C++, KLU), called directly" in done.stdout
    assert "plain runpp per step" in done.stdout and "x faster" in done.stdout


def test_timeseries_on_a_feeder_without_profiles_is_a_clear_error(capsys) -> None:
    assert main(["powerflow", "baran-wu-33", "--steps", "4"]) == 2
    assert "has no load/generation profiles" in capsys.readouterr().err


def test_unknown_feeder_exits_2_without_traceback() -> None:
    done = _run("inspect", "atlantis-feeder")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "gridderms: error: feeder 'atlantis-feeder' is neither a built-in"
    )
    assert "Traceback" not in done.stderr


def test_inverted_limits_are_a_clear_error(capsys) -> None:
    assert main(["powerflow", "baran-wu-33", "--vm-min-pu", "1.1", "--vm-max-pu", "1.0"]) == 2
    assert "vm_min_pu < vm_max_pu" in capsys.readouterr().err


def test_powerflow_on_the_large_multi_source_feeder_names_the_backend_used(capsys) -> None:
    assert main(["powerflow", "lv-schutterwald"]) == 0
    out = capsys.readouterr().out
    assert "pandapower Newton-Raphson, no numba (instead of lightsim2grid:" in out
    assert "this feeder has 14" in out and "converged:              yes" in out


DER_FILE = Path(__file__).parent / "data" / "ders" / "example_ders.csv"


def test_ders_lists_model_and_file_ders_grouped_by_feeder(capsys) -> None:
    args = ["ders", "cigre-mv-der", "--der-file", str(DER_FILE), "--group-by", "feeder", "--json"]
    assert main(args) == 0
    listing = json.loads(capsys.readouterr().out)
    ids = {d["der_id"] for d in listing["ders"]}
    assert {"sgen-0", "storage-1", "pv-3", "bat-5", "ev-11"} <= ids and len(ids) == 20
    # every CIGRE MV DER sits on the feeder behind transformer 0 (head bus 1)
    assert listing["groups"] == [
        {
            "name": "feeder:feeder-1",
            "by": "feeder",
            "members": 20,
            "p_rated_mw": pytest.approx(sum(d["p_rated_mw"] for d in listing["ders"])),
        }
    ]


def test_ders_groups_by_type_sum_the_ratings(capsys) -> None:
    assert main(["ders", "cigre-mv-der", "--json"]) == 0
    groups = {g["name"]: g for g in json.loads(capsys.readouterr().out)["groups"]}
    assert {name: g["members"] for name, g in groups.items()} == {
        "type:battery": 2,
        "type:generator": 5,
        "type:pv": 8,
    }
    # CIGRE MV PV: 20+20+30+30+30+30+40+10 kW
    assert groups["type:pv"]["p_rated_mw"] == pytest.approx(0.21)


def test_ders_with_a_der_on_a_missing_bus_is_refused(tmp_path, capsys) -> None:
    bad = tmp_path / "ders.csv"
    bad.write_text(DER_FILE.read_text().replace("pv-3,pv,3,", "pv-3,pv,333,"))
    assert main(["ders", "cigre-mv-der", "--der-file", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (
        "gridderms: error: 1 DER references a bus that does not exist in the feeder: 'pv-3' "
        "(bus 333)"
    )


#: a day in hours from midnight
DAY = ("--horizon-h", "24", "--step-min", "60", "--start", "2026-06-22T00:00")


def test_dispatch_writes_a_verified_schedule(tmp_path) -> None:
    done = _run(*CLI_DISPATCH, "--vm-min-pu", "0.9", *DAY, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert re.search(r"^status:\s+optimal$", done.stdout, re.M)
    assert re.search(r"^AC check:\s+within limits$", done.stdout, re.M)
    assert re.search(
        r"^horizon:\s+24 x 60 min from 2026-06-22 00:00 Europe/Berlin \(22:00 UTC\)$",
        done.stdout,
        re.M,
    )
    schedule = (tmp_path / "schedule.csv").read_text().splitlines()
    assert schedule[0].startswith("der_id,period,p_mw,q_mvar")
    assert len(schedule) == 1 + 4 * 24
    summary = json.loads((tmp_path / "dispatch.json").read_text())
    assert summary["ac_feasible"] and summary["min_vm_pu"] >= 0.9 - 1e-3


def test_dispatch_infeasible_prints_the_diagnosis_and_exits_3() -> None:
    done = _run(*CLI_DISPATCH, *DAY, "--vm-min-pu", "0.97")
    assert done.returncode == 3
    assert "no schedule: these limits must give" in done.stdout
    # AC amounts at the weakest buses (ends of laterals 1 and 3) in the night hours
    worst = re.search(r"voltage_min at bus (\d+), period (\d+): short by ([0-9.]+) pu", done.stdout)
    assert worst is not None
    assert int(worst[1]) in (17, 31, 32) and 0.005 < float(worst[3]) < 0.05


def test_dispatch_snapshot_and_dates_on_a_feeder_with_profiles() -> None:
    done = _run("dispatch", "baran-wu-33", "--snapshot", "--horizon-h", "1", "--step-min", "60")
    assert done.returncode in (0, 3), done.stderr
    assert re.search(
        r"^load forecast:\s+snapshot: the model's load p_mw / q_mvar$", done.stdout, re.M
    )
    # a date selects the SimBench profile step; outside 2016 the error names the range
    outside = _run(
        "dispatch", "1-LV-rural1--0-sw", "--start", "2026-06-22T12:00", "--horizon-h", "1"
    )
    assert outside.returncode == 2
    assert "has profiles from 2016-01-01T00:00:00+01:00 to 2016-12-31T23:45:00+01:00" in (
        outside.stderr
    )
    inside = _run(
        "dispatch", "1-LV-rural1--0-sw", "--start", "2016-06-21T12:00", "--horizon-h", "1", "--json"
    )
    summary = json.loads(inside.stdout)
    # 12:00 CEST = 10:00 UTC = step 96 * 172 + 44 (steps count from 2016-01-01 00:00 CET)
    assert summary["forecast"]["profile_step"] == 96 * 172 + 44
    assert summary["forecast"]["mode"] == "profiles"


def test_powerflow_at_a_date_uses_the_forecast() -> None:
    night = _run(
        "powerflow", "baran-wu-33", "--start", "2026-06-22T03:00", "--json", "--no-compare"
    )
    evening = _run(
        "powerflow", "baran-wu-33", "--start", "2026-06-22T19:00", "--json", "--no-compare"
    )
    assert night.returncode == evening.returncode == 0, night.stderr + evening.stderr
    low_load = json.loads(night.stdout)["min_vm_pu"]
    high_load = json.loads(evening.stdout)["min_vm_pu"]
    assert low_load > high_load + 0.01  # the standard profile: less load at 03:00


def test_dispatch_rejects_objectives_that_need_series(capsys) -> None:
    assert main(["dispatch", "baran-wu-33", "--objective", "cost"]) == 2
    assert "need a price or target series" in capsys.readouterr().err


def test_cloud_cover_scales_the_pv_forecast() -> None:
    """pvlib's linear cloud-cover relation: overcast keeps 35 % of the clear-sky irradiance
    (a little less power after the temperature and inverter models); 120 % is refused."""
    base = [
        *CLI_DISPATCH,
        "--start",
        "2026-06-22T12:00",
        "--horizon-h",
        "1",
        "--step-min",
        "60",
        "--vm-min-pu",
        "0.9",
        "--json",
    ]
    clear = json.loads(_run(*base).stdout)["forecast"]
    overcast = json.loads(_run(*base, "--cloud-cover", "100").stdout)["forecast"]
    ratio = overcast["available_der_mw"][0] / clear["available_der_mw"][0]
    assert 0.28 < ratio < 0.35
    assert list(overcast["der_sources"]) == [
        "pvlib clear-sky at 51.2 N 10.4 E, scaled by the given cloud cover"
    ]
    refused = _run(*base, "--cloud-cover", "120")
    assert refused.returncode == 2 and "within 0..100 %" in refused.stderr
