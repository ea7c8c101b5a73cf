"""Mutation testing (``make mutate``) of the code that decides who may do what and when a
schedule reaches the DERs, each area against only its own fast, in-process tests.

Areas (``python scripts/mutate.py [AREA ...]``, default all):

- ``auth``: every function of gridderms/service/auth.py and api/deps.py, against
  tests/test_auth_unit.py; no mutant may survive (exit status 1 otherwise);
- ``activation``: ``store_result`` (the activation condition) and ``decide`` of
  gridderms/service/dispatch_runs.py, against tests/test_activation_unit.py;
- ``ac-check``: ``widened`` of solvers/limits.py (where the AC verification widens
  the limits by its tolerances) with mutmut, and the tolerance constants themselves
  (mutmut mutates only inside functions, so each constant is set 10x larger and 10x smaller
  in turn), against the tolerance tests of tests/test_dispatch_physics.py.

mutmut runs in a scratch copy of the work tree (its ``mutants/`` folder never lands in the
repository); the survivors are printed with their diffs, then a killed/survived table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "gridderms", "solvers", "network_models", "scada_bridge")
PHYSICS_TOLERANCE_TESTS = [
    "tests/test_dispatch_physics.py::test_dispatch_request_tolerance_defaults",
    "tests/test_dispatch_physics.py::test_overvoltage_after_iterating_is_within_the_literal_tolerance",
    "tests/test_dispatch_physics.py::test_voltage_tolerance_is_sharp",
    "tests/test_dispatch_physics.py::test_loading_tolerance_is_sharp",
    "tests/test_dispatch_physics.py::test_run_timeseries_flags_a_voltage_1p5e_3_above_the_limit",
]


@dataclass(frozen=True)
class Constant:
    """A module- or class-level constant: the line that sets it, matched exactly."""

    path: str
    line: str
    value: float


@dataclass(frozen=True)
class Area:
    """What to mutate and which tests must kill the mutants."""

    files: tuple[str, ...]
    tests: tuple[str, ...]
    #: mutmut mutant names (globs); empty: every mutant of ``files``
    mutants: tuple[str, ...] = ()
    constants: tuple[Constant, ...] = field(default=())
    #: fail (exit 1) when a mutant survives
    strict: bool = False
    #: regular expressions of source lines not to mutate: equivalent mutants only (no test can
    #: tell them from the original), each with its reason in :data:`AREAS`
    equivalent_lines: tuple[str, ...] = ()


AREAS: dict[str, Area] = {
    "auth": Area(
        files=("gridderms/service/auth.py", "api/deps.py"),
        tests=("tests/test_auth_unit.py",),
        strict=True,
        equivalent_lines=(
            # token_urlsafe(None) is token_urlsafe(32): 32 bytes is the default entropy
            r"secrets\.token_urlsafe\(32\)",
            # Starlette sends header names lower-cased whatever their case here
            r'headers=\{"WWW-Authenticate": "Bearer"\}',
        ),
    ),
    "activation": Area(
        files=("gridderms/service/dispatch_runs.py",),
        tests=("tests/test_activation_unit.py",),
        mutants=(
            "gridderms.service.dispatch_runs.x_store_result__mutmut_*",
            "gridderms.service.dispatch_runs.x_decide__mutmut_*",
        ),
    ),
    "ac-check": Area(
        files=("solvers/limits.py",),
        tests=tuple(PHYSICS_TOLERANCE_TESTS),
        mutants=("solvers.limits.x_widened__mutmut_*",),
        constants=(
            Constant("solvers/limits.py", "VM_TOLERANCE_PU = 1e-3", 1e-3),
            Constant("solvers/limits.py", "LOADING_TOLERANCE_PERCENT = 0.5", 0.5),
            Constant("solvers/timeseries.py", "TOLERANCE_PU = 1e-8", 1e-8),
        ),
    ),
}


def _scratch(name: str) -> Path:
    """A copy of the packages, the tests and pyproject.toml; the feeder cache is shared."""
    root = Path(tempfile.mkdtemp(prefix=f"gridderms-mutate-{name}-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".cache", "mutants")
    for package in (*PACKAGES, "tests"):
        if (REPO / package).exists():
            shutil.copytree(REPO / package, root / package, ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    (REPO / ".cache").mkdir(exist_ok=True)
    for where in (root, root / "mutants"):
        where.mkdir(exist_ok=True)
        (where / ".cache").symlink_to(REPO / ".cache")
    return root


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _environment() -> dict[str, str]:
    return {
        **os.environ,
        "GRIDDERMS_CACHE_DIR": str(REPO / ".cache" / "feeders"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _mutmut(name: str, area: Area, jobs: int) -> dict[str, str]:
    """Run mutmut over ``area`` in a scratch copy; return each mutant's status."""
    root = _scratch(name)
    with (root / "pyproject.toml").open("a") as config:
        config.write(
            "\n[tool.mutmut]\n"
            f"source_paths = {_toml_list(PACKAGES)}\n"
            f"only_mutate = {_toml_list(area.files)}\n"
            'also_copy = ["tests", "pyproject.toml"]\n'
            f"pytest_add_cli_args_test_selection = {_toml_list(area.tests)}\n"
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:warnings", "-q"]\n'
            "use_git_change_detection = false\n"
            f"do_not_mutate_patterns = {json.dumps(list(area.equivalent_lines))}\n"
        )
    mutmut = [sys.executable, "-m", "mutmut"]
    print(f"== {name}: mutmut over {', '.join(area.files)} in {root}", flush=True)
    done = subprocess.run(
        [*mutmut, "run", "--max-children", str(jobs), *area.mutants],
        cwd=root,
        env=_environment(),
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"mutmut run failed for {name} ({done.returncode})")
    listed = subprocess.run(
        [*mutmut, "results", "--all", "true"],
        cwd=root,
        env=_environment(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    statuses = {}
    for line in listed.splitlines():
        mutant, _, status = line.strip().rpartition(": ")
        if mutant and any(_glob(pattern, mutant) for pattern in area.mutants or ("*",)):
            statuses[mutant] = status
    for mutant, status in sorted(statuses.items()):
        if status != "killed":
            shown = subprocess.run(
                [*mutmut, "show", mutant], cwd=root, env=_environment(), capture_output=True
            )
            print(f"-- {status}: {mutant}\n{shown.stdout.decode(errors='replace')}")
    shutil.rmtree(root, ignore_errors=True)
    return statuses


def _glob(pattern: str, name: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*")
    return re.fullmatch(regex, name) is not None


def _constants(name: str, area: Area) -> dict[str, str]:
    """Each constant 10x larger and 10x smaller in a scratch copy: killed when a test
    fails."""
    statuses: dict[str, str] = {}
    if not area.constants:
        return statuses
    root = _scratch(f"{name}-constants")
    for constant in area.constants:
        path = root / constant.path
        original = path.read_text()
        if original.count(constant.line + "\n") != 1:
            statuses[f"{constant.path}: {constant.line.strip()}"] = "not found"
            continue
        prefix = constant.line.rsplit("=", 1)[0]
        for factor in (10.0, 0.1):
            mutated = f"{prefix}= {constant.value * factor!r}"
            path.write_text(original.replace(constant.line + "\n", mutated + "\n"))
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *area.tests],
                cwd=root,
                env=_environment(),
                capture_output=True,
                check=False,
            )
            label = f"{constant.path}: {mutated.strip()}"
            statuses[label] = (
                "killed"
                if done.returncode == 1
                else ("survived" if done.returncode == 0 else f"error {done.returncode}")
            )
            print(f"   {statuses[label]}: {label}", flush=True)
        path.write_text(original)
    shutil.rmtree(root, ignore_errors=True)
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("areas", nargs="*", metavar="AREA", help=f"of {', '.join(AREAS)}")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    unknown = sorted(set(args.areas) - set(AREAS))
    if unknown:
        parser.error(f"unknown area(s) {unknown}: choose from {', '.join(AREAS)}")
    table = []
    failed = False
    for name in args.areas or list(AREAS):
        area = AREAS[name]
        statuses = _mutmut(name, area, args.jobs)
        statuses |= _constants(name, area)
        counts = {
            status: list(statuses.values()).count(status) for status in set(statuses.values())
        }
        table.append((name, len(statuses), counts))
        survivors = len(statuses) - counts.get("killed", 0)
        failed |= area.strict and survivors > 0
        if not statuses:
            failed = True
            print(f"{name}: no mutants found")
    print("\narea         mutants  killed  survived  other")
    for name, total, counts in table:
        killed, survived = counts.get("killed", 0), counts.get("survived", 0)
        other = {k: v for k, v in sorted(counts.items()) if k not in ("killed", "survived")}
        detail = f"  ({', '.join(f'{k}: {v}' for k, v in other.items())})" if other else ""
        print(
            f"{name:<12} {total:>7}  {killed:>6}  {survived:>8}  {sum(other.values()):>5}{detail}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
