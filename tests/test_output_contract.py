"""The command lines' output contract, run as real processes.

``--json`` standard output is one strict JSON document and nothing else: no solver banner,
no ``NaN`` / ``Infinity`` (non-finite numbers are ``null``), and every JSON file written with
``--out`` likewise. A refused command ends with exit status 2 and one line
``gridderms: error: ...`` (``gridderms-service: error: ...``) on stderr naming the fix, never
a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from payloads import CLI_DISPATCH

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
#: one hour in one period: every run stays short
SHORT = ["--horizon-h", "1", "--step-min", "60", "--start", "2026-06-22T12:00"]


def _run(
    command: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def _json_to(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``gridderms *args --json --out out``."""
    return _run("gridderms", *args, "--json", "--out", str(out))


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _json_stdout(done: subprocess.CompletedProcess[str]) -> Any:
    assert "Running HiGHS" not in done.stdout, "the HiGHS banner reached standard output"
    assert "Traceback" not in done.stderr, done.stderr
    return strict_json(done.stdout)


def _one_error_line(done: subprocess.CompletedProcess[str], prog: str = "gridderms") -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    return lines[0]


# --- --json is strict JSON, and nothing else ------------------------------------------------


def test_dispatch_json_on_lv_schutterwald(tmp_path: Path) -> None:
    """The meshed multi-source feeder (the linearised-AC formulation; LinDistFlow refuses
    meshes): standard output and dispatch.json parse strictly, whatever the status."""
    done = _json_to(
        tmp_path, "dispatch", "lv-schutterwald", "--formulation", "linearized-ac", *SHORT
    )
    assert done.returncode in (0, 3), done.stderr
    summary = _json_stdout(done)
    assert summary["status"] in ("optimal", "infeasible")
    written = strict_json((tmp_path / "dispatch.json").read_text())
    assert written["status"] == summary["status"]


@pytest.mark.parametrize("backend", ["highspy", "pyomo"])
def test_dispatch_json_on_a_small_feeder_with_either_lp_backend(backend: str) -> None:
    done = _run(
        "gridderms", *CLI_DISPATCH, "--vm-min-pu", "0.9", *SHORT, "--backend", backend, "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = _json_stdout(done)
    assert summary["status"] == "optimal" and summary["ac_feasible"]


def test_infeasible_dispatch_writes_null_not_nan(tmp_path: Path) -> None:
    """No schedule meets 0.99 pu at night: the values that do not exist are ``null``."""
    night = ("--horizon-h", "1", "--step-min", "60", "--start", "2026-06-22T00:00")
    done = _json_to(tmp_path, "dispatch", "baran-wu-33", *night, "--vm-min-pu", "0.99")
    assert done.returncode == 3, done.stderr
    summary = _json_stdout(done)
    assert summary["status"] == "infeasible"
    assert summary["objective_value"] is None and summary["curtailed_mwh"] is None
    assert summary["diagnosis"]
    written = strict_json((tmp_path / "dispatch.json").read_text())
    assert written["status"] == "infeasible" and written["objective_value"] is None


def test_hosting_capacity_json_and_its_file(tmp_path: Path) -> None:
    done = _json_to(tmp_path, "hosting-capacity", "lv-schutterwald", "--buses", "1", "2", "3")
    assert done.returncode == 0, done.stderr
    study = _json_stdout(done)
    assert strict_json((tmp_path / "hosting_capacity.json").read_text()) == study


@pytest.mark.parametrize(
    "args",
    [
        ["powerflow", "lv-schutterwald"],
        ["powerflow", "1-LV-rural1--0-sw", "--steps", "4", "--no-compare"],
        ["inspect", "lv-schutterwald"],
        ["ders", "cigre-mv-der"],
    ],
    ids=["powerflow", "powerflow-steps", "inspect", "ders"],
)
def test_other_json_commands_print_strict_json(args: list[str]) -> None:
    done = _run("gridderms", *args, "--json")
    assert done.returncode == 0, done.stderr
    _json_stdout(done)


def test_highs_construction_from_threads_leaves_stdout_working(tmp_path: Path) -> None:
    """The banner is kept off file descriptor 1 during construction; threads constructing at
    once (service job workers) must not leave descriptor 1 at /dev/null."""
    script = (
        "import threading\n"
        "from solvers.lp.highs import quiet_highs\n"
        "def work():\n"
        "    for _ in range(50):\n"
        "        quiet_highs()\n"
        "threads = [threading.Thread(target=work) for _ in range(8)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print('still visible', flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the installed package, not whatever the working directory holds
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "still visible\n"


# --- gridderms: one error line, exit 2 --------------------------------------------------------


def test_cli_errors_are_one_line_with_the_fix(tmp_path: Path) -> None:
    bad_file = tmp_path / "garbage.json"
    bad_file.write_text("not json")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["inspect", "atlantis-feeder"], {}, "neither a built-in feeder"),
        (["inspect", str(bad_file)], {}, "not valid JSON"),
        (["dispatch", "baran-wu-33", "--step-min", "7"], {}, "7-min steps"),
        (["dispatch", "baran-wu-33", *SHORT, "--out", str(a_file)], {}, "--out"),
        (["powerflow", "baran-wu-33", "--steps", "0", "--start", "2026-06-22"], {}, "--steps"),
        (["powerflow", "baran-wu-33"], {"GRIDDERMS_VM_MIN_PU": "low"}, "GRIDDERMS_VM_MIN_PU"),
    ]
    for args, env, expected in cases:
        done = _run("gridderms", *args, env=env)
        line = _one_error_line(done)
        assert expected in line, (args, line)
        assert done.stdout == "", (args, done.stdout)


# --- gridderms-service: one error line, exit 2 ------------------------------------------------


def _service_env(tmp_path: Path) -> dict[str, str]:
    return {
        "GRIDDERMS_DATA_DIR": str(tmp_path),
        "GRIDDERMS_DATABASE_URL": f"sqlite:///{tmp_path / 'gridderms.db'}",
    }


def test_create_key_twice_names_the_conflict(tmp_path: Path) -> None:
    env = _service_env(tmp_path)
    assert _run("gridderms-service", "migrate", env=env).returncode == 0
    first = _run("gridderms-service", "create-key", "ops", "--role", "operator", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("gdm_")
    second = _run("gridderms-service", "create-key", "ops", "--role", "operator", env=env)
    line = _one_error_line(second, "gridderms-service")
    assert "'ops' already exists" in line and "gridderms-service create-key" in line
    assert second.stdout == ""


@pytest.mark.parametrize(
    "args", [["serve", "--port", "18999"], ["create-key", "ops", "--role", "operator"]]
)
def test_an_unmigrated_database_names_the_migrate_command(tmp_path: Path, args: list[str]) -> None:
    done = _run("gridderms-service", *args, env=_service_env(tmp_path))
    line = _one_error_line(done, "gridderms-service")
    assert "has no gridderms schema" in line and "`gridderms-service migrate`" in line


def test_unusable_database_urls_and_settings(tmp_path: Path) -> None:
    cases = [
        ({"GRIDDERMS_DATABASE_URL": "postgresql+psycopg://u:pw@127.0.0.1:1/db"}, "127.0.0.1"),
        ({"GRIDDERMS_DATABASE_URL": "no url at all"}, "GRIDDERMS_DATABASE_URL"),
        ({"GRIDDERMS_DATABASE_URL": f"sqlite:///{tmp_path}"}, "unable to open database file"),
        ({"GRIDDERMS_DISPATCH_WORKERS": "99"}, "GRIDDERMS_DISPATCH_WORKERS"),
    ]
    for env, expected in cases:
        done = _run("gridderms-service", "migrate", env={**_service_env(tmp_path), **env})
        line = _one_error_line(done, "gridderms-service")
        assert expected in line, (env, line)
        assert ":pw@" not in line  # the password stays masked
