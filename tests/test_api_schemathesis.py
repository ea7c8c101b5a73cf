"""schemathesis over the service's OpenAPI document, against the live app (uvicorn on SQLite
and on a real PostgreSQL server, real HTTP, an admin key): every operation gets a bounded
number of generated requests, valid ones (positive) and invalid ones (negative), once with
generated path parameters and once on a loaded feeder. Zero server errors (5xx), zero
undocumented status codes and zero response-schema violations are allowed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_fixtures import BACKENDS, ApiServer, served

FEEDER = "fuzz"
#: generated requests per operation and generation mode, per backend: half on PostgreSQL (the
#: second backend; 8 there doubled the test's runtime, 51 s -> 102 s, for the same operations)
EXAMPLES = {"sqlite": 8, "postgresql": 4}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: operations that would start long computations on a real feeder (their validation is still
#: fuzzed with generated feeder names)
EXPENSIVE_ON_A_REAL_FEEDER = ("dispatch-runs", "hosting-capacity")


class Fuzzed(NamedTuple):
    """The API under fuzzing and its database backend."""

    backend: str
    server: ApiServer


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """The API on a fresh database of each backend with one feeder loaded."""
    backend = str(request.param)
    with served(tmp_path_factory, backend, f"schemathesis-{backend}") as server:
        server.load_feeder(FEEDER, "baran-wu-33")
        yield Fuzzed(backend, server)


def _run(
    case_strategy: st.SearchStrategy[Any],
    call: Callable[[Any], None],
    examples: int,
) -> None:
    @given(case=case_strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        call(case)

    fuzz()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    fuzzed: Fuzzed,
) -> None:
    backend, fuzz_server = fuzzed
    examples = EXAMPLES[backend]
    schema = schemathesis.openapi.from_url(fuzz_server.base + "/api/v1/openapi.json")
    headers = {"X-API-Key": fuzz_server.keys["admin"]}
    failures: dict[str, str] = {}
    calls = 0
    operations = 0

    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=fuzz_server.base, headers=headers, timeout=60)
        try:
            case.validate_response(response, checks=CHECKS)
        except (FailureGroup, AssertionError) as exc:  # one or more checks failed
            key = f"{case.operation.label} -> {response.status_code}"
            failures.setdefault(key, f"{str(exc)[:600]}\n{case.as_curl_command(headers)}")

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        names = {p.name for p in operation.path_parameters}
        _run(operation.as_strategy(generation_mode=GenerationMode.POSITIVE), check, examples)
        # nothing to make invalid when an operation has no parameters and no body
        with contextlib.suppress(Unsatisfiable):
            _run(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), check, examples)
        real = "feeder" in names and not any(
            part in operation.path for part in EXPENSIVE_ON_A_REAL_FEEDER
        )
        if real:
            strategy = operation.as_strategy(path_parameters={"feeder": FEEDER})
            _run(strategy, check, examples)
    log = Path(fuzz_server.log).read_text()
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in sorted(failures.items()))
    assert operations >= 37
    assert calls >= operations * examples
    assert "Traceback" not in log, log[-4000:]
