"""Property tests of what the service reads, over hostile input (issue 11).

* the request models (:class:`DispatchSpec`, the request schemas of :mod:`api.schemas`),
  validated from JSON text as the API does: they accept or raise ``pydantic.ValidationError``,
  nothing else; an accepted :class:`DispatchSpec` has a horizon of at least one period that
  starts within the allowed years, and a voltage band with its minimum below its maximum;
* the DER record importers (:func:`ders_from_json`, :func:`ders_from_csv`): records or
  :class:`DerError`, nothing else;
* the feeder loader (:func:`network_models.loaders.load_feeder` on a pandapower JSON file):
  random mutations of a real pandapower JSON give a feeder or a :class:`FeederError`, never
  ``AttributeError``/``KeyError``/``TypeError``/``RecursionError``, and a module the file names
  (``_module``) is never imported.

Bounded and reproducible: ``derandomize=True``, no example database.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import io
import json
import math
import sys
import typing
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from payloads import DISPATCH_1H, REACTIVE
from pydantic import AwareDatetime, BaseModel, ValidationError

from api import schemas
from gridderms.bounds import DATETIME_YEARS
from gridderms.ders import DER_RECORD_CLASSES, DerError, ders_from_csv, ders_from_json
from gridderms.ders.csv_format import ALL_COLUMNS
from gridderms.service.dispatch_spec import DispatchSpec
from gridderms.service.errors import InvalidRequestError
from network_models.errors import FeederError
from network_models.loaders import load_feeder

BOUNDED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REQUEST_MODELS = sorted(
    (
        model
        for model in vars(schemas).values()
        if inspect.isclass(model)
        and issubclass(model, BaseModel)
        and model.__module__ == schemas.__name__
        and not issubclass(model, schemas.Public)
    ),
    key=lambda model: model.__name__,
)

# -- JSON values ---------------------------------------------------------------------------------

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
#: aware date-times over the whole calendar, the ends included, with offsets up to +-23:59
aware = st.builds(lambda d, tz: d.replace(tzinfo=tz), st.datetimes(), offsets) | st.sampled_from(
    [
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
    ]
)
datetime_texts = aware.map(datetime.isoformat) | st.sampled_from(
    ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2024-06-21", "12345", ""]
)
numbers = st.floats(allow_subnormal=True) | st.sampled_from(
    [1e308, -1e308, 5e-324, -0.0, 10**400, -(10**400), 2**63, "NaN", "Infinity", "1.5"]
)
hostile_texts = st.text(max_size=30) | st.sampled_from(
    ["a/b", "a\x00b", "pv\u202e1", "x" * 5000, " x ", "\U0001f600", ""]
)
scalars = st.none() | st.booleans() | st.integers() | numbers | hostile_texts | datetime_texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_texts, inner, max_size=4),
    max_leaves=12,
)


def jsonable(value: Any) -> Any:
    """``value`` as JSON data (date-times as ISO text, sets as lists)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def _mentions(annotation: Any, kind: type) -> bool:
    if inspect.isclass(annotation) and issubclass(annotation, kind):
        return True
    return any(_mentions(arg, kind) for arg in typing.get_args(annotation))


def field_values(annotation: Any) -> st.SearchStrategy[Any]:
    """Values for a field: of its type (``st.from_type``; aware date-times over the whole
    calendar), hostile, or any JSON."""
    if _mentions(annotation, AwareDatetime) or _mentions(annotation, datetime):
        typed = aware.map(datetime.isoformat) | st.none()
    elif _mentions(annotation, BaseModel):
        typed = st.nothing()
    else:
        typed = st.from_type(annotation).map(jsonable)
    return typed | json_values | numbers | datetime_texts


def bodies(model: type[BaseModel], valid: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Bodies for ``model``: its fields with typed or hostile values (from ``valid`` when
    given, some fields replaced), or any JSON value."""
    fields = {name: field_values(info.annotation) for name, info in model.model_fields.items()}
    extra = st.dictionaries(hostile_texts, json_values, max_size=2)
    if valid is None:
        shaped = st.fixed_dictionaries({}, optional=fields)
    else:
        shaped = st.fixed_dictionaries(
            {}, optional={n: s for n, s in fields.items() if n in valid}
        ).map(lambda changes: {**valid, **changes})
    return st.one_of(shaped, st.tuples(shaped, extra).map(lambda p: {**p[1], **p[0]}), json_values)


def validate(model: type[BaseModel], value: Any) -> BaseModel | None:
    """``model`` from ``value`` as JSON text (as the API does), ``None`` when refused."""
    text = json.dumps(value, allow_nan=True)
    try:
        return model.model_validate_json(text)
    except ValidationError:
        return None


# -- request models ------------------------------------------------------------------------------


MEASUREMENT = {"der_id": "pv-1", "measured_at": "2024-06-21T09:55:00Z", "p_mw": 0.01}
#: a valid body of some models, whose fields are then made hostile a few at a time (so that
#: the validators after the fields' own checks run too)
VALID: dict[str, dict[str, Any]] = {
    "ApiKeyCreate": {"name": "k-1", "role": "viewer"},
    "DerGroupCreate": {"name": "g-1", "by": "custom", "members": ["pv-1"]},
    "FeederLocationUpdate": {"latitude_deg": 48.4, "longitude_deg": 7.9, "tz": "Europe/Berlin"},
    "MeasurementCreate": MEASUREMENT,
    "TelemetryBatchCreate": {"measurements": [MEASUREMENT]},
    "DispatchRunCreate": {"start": "2024-06-21T10:00:00Z", "horizon_h": 1.0, "step_minutes": 15},
    "ReactiveCapabilitySet": {"s_rated_mva": 0.05, "pf_min": 0.9, "ieee1547_category": "B"},
    "DerAvailabilityUpdate": {
        "arrival": "2024-06-21T08:00:00Z",
        "window_end": MEASUREMENT["measured_at"],
    },
}


@pytest.mark.parametrize("model", REQUEST_MODELS, ids=lambda m: m.__name__)
def test_request_model_accepts_or_raises_validation_error(model: type[BaseModel]) -> None:
    valid = VALID.get(model.__name__)
    values = bodies(model) if valid is None else bodies(model) | bodies(model, valid)

    @settings(BOUNDED, max_examples=40)
    @given(value=values)
    def check(value: Any) -> None:
        validate(model, value)
        with contextlib.suppress(ValidationError):
            model.model_validate(value)

    check()


DISPATCH = DISPATCH_1H
dispatch_bodies = st.fixed_dictionaries(
    {},
    optional={
        "start": datetime_texts | st.integers() | numbers,
        "horizon_h": numbers | st.floats(min_value=0, max_value=1e-6),
        "step_minutes": st.integers(-5, 2000) | numbers,
        "vm_min_pu": numbers | st.floats(0, 2),
        "vm_max_pu": numbers | st.floats(0, 2),
    },
).map(lambda changes: {**DISPATCH, **changes})


@pytest.mark.parametrize("model", [DispatchSpec, schemas.DispatchRunCreate])
def test_an_accepted_dispatch_spec_has_periods_in_the_allowed_years(
    model: type[DispatchSpec],
) -> None:
    first, last = DATETIME_YEARS

    @BOUNDED
    @given(value=dispatch_bodies | bodies(model, DISPATCH))
    @example(value={**DISPATCH, "start": "0001-01-01T00:00:00Z"})
    @example(value={**DISPATCH, "start": "9999-12-31T23:00:00Z"})
    @example(value={**DISPATCH, "start": "0001-01-01T00:00:00+14:00"})
    @example(value={**DISPATCH, "start": "9999-12-31T23:59:59-12:00"})
    @example(value={**DISPATCH, "start": 12345})
    @example(value={**DISPATCH, "horizon_h": 5e-324})
    @example(value={**DISPATCH, "vm_min_pu": 1.5, "vm_max_pu": 1.05})
    def check(value: Any) -> None:
        spec = validate(model, value)
        if spec is None:
            return
        assert isinstance(spec, DispatchSpec)
        assert first <= spec.start.year <= last, spec.start
        periods = spec.horizon_h * 60 / spec.step_minutes
        try:
            horizon = spec.horizon()
        except InvalidRequestError:  # documented: a horizon that is not whole steps
            assert abs(periods - round(periods)) > 1e-9, (value, periods)
            return
        assert horizon.n_periods >= 1, (value, horizon)
        assert first <= horizon.start.year <= last, horizon.start
        if spec.vm_min_pu is not None and spec.vm_max_pu is not None:
            assert spec.vm_min_pu < spec.vm_max_pu, value

    check()


# -- DER importers -------------------------------------------------------------------------------

COMMON = {"der_id": "d-1", "name": "n", "bus": 1, "reactive": REACTIVE}
RECORDS = {
    "pv": {"p_nameplate_mw": 0.05, "p_available_mw": 0.04, "curtailable": True},
    "battery": {
        "p_charge_max_mw": 0.1,
        "p_discharge_max_mw": 0.1,
        "e_capacity_mwh": 0.2,
        "soc_min_percent": 10,
        "soc_max_percent": 90,
        "soc_initial_percent": 50,
        "charge_efficiency": 0.95,
        "discharge_efficiency": 0.95,
    },
    "ev_charger": {
        "p_max_mw": 0.01,
        "energy_need_mwh": 0.01,
        "arrival": "2024-06-21T08:00:00+02:00",
        "departure": "2024-06-21T18:00:00+02:00",
    },
    "flexible_load": {
        "p_min_mw": 0.0,
        "p_baseline_mw": 0.01,
        "p_max_mw": 0.02,
        "window_start": "2024-06-21T08:00:00Z",
        "window_end": "2024-06-21T12:00:00Z",
    },
    "generator": {
        "p_max_mw": 1.0,
        "p_available_mw": 0.5,
        "curtailable": False,
        "technology": "diesel",
    },
}
record_fields = sorted({name for cls in DER_RECORD_CLASSES.values() for name in cls.model_fields})
der_records = st.builds(
    lambda der_type, changes: {
        **COMMON,
        "der_type": der_type,
        **RECORDS.get(der_type, {}),
        **changes,
    },
    st.sampled_from(sorted(DER_RECORD_CLASSES)) | hostile_texts,
    st.dictionaries(st.sampled_from(record_fields), json_values | datetime_texts, max_size=3),
)
der_documents = st.lists(der_records | json_values, max_size=4) | st.dictionaries(
    hostile_texts, json_values, max_size=3
)


@BOUNDED
@given(document=der_documents)
@example(document=[{**COMMON, "der_type": "pv", **RECORDS["pv"], "p_nameplate_mw": 1e308}])
@example(document=[{**COMMON, "der_type": "pv", **RECORDS["pv"], "der_id": "a/b\x00\u202e"}])
def test_ders_from_json_gives_records_or_der_error(document: Any) -> None:
    try:
        records = ders_from_json(json.dumps(document, allow_nan=True))
    except DerError:
        return
    assert all(record.der_type in DER_RECORD_CLASSES for record in records)


@pytest.mark.parametrize(
    "text", ["[" * 5000 + "]" * 5000, '[{"a":' * 3000 + "1" + "}]" * 3000, "[" * 100_000, "[NaN]"]
)
def test_ders_from_json_refuses_deep_or_broken_text_with_der_error(text: str) -> None:
    with pytest.raises(DerError):
        ders_from_json(text)


cells = hostile_texts | numbers.map(str) | datetime_texts | st.sampled_from(["nan", "inf", "1e400"])


def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", restval="")
    writer.writeheader()
    for row in rows:
        flat = {**row, **(row.get("reactive") if isinstance(row.get("reactive"), dict) else {})}
        writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in flat.items()})
    return buffer.getvalue()


csv_texts = st.one_of(
    st.builds(
        _csv_text,
        st.lists(der_records, min_size=1, max_size=3),
        st.just(list(ALL_COLUMNS)) | st.lists(st.sampled_from(ALL_COLUMNS), unique=True),
    ),
    st.builds(
        lambda header, rows: "\n".join([",".join(header), *(",".join(r) for r in rows)]),
        st.lists(st.sampled_from(ALL_COLUMNS) | hostile_texts, max_size=6),
        st.lists(st.lists(cells, max_size=6), max_size=3),
    ),
    st.text(max_size=200),
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the files the properties write."""
    return tmp_path_factory.mktemp("hostile-models")


def test_ders_from_csv_gives_records_or_der_error(scratch: Path) -> None:
    path = scratch / "ders.csv"

    @BOUNDED
    @given(text=csv_texts)
    def check(text: str) -> None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(DerError):
            ders_from_csv(path)

    check()


# -- the feeder loader ---------------------------------------------------------------------------

MISSING_MODULE = "gridderms_hx_no_such_module"
THROWAWAY = "gridderms_hx_throwaway"


@cache
def case4gs() -> str:
    """A real small pandapower JSON (``pandapower.to_json(case4gs())``)."""
    import pandapower as pp
    import pandapower.networks as pn

    return str(pp.to_json(pn.case4gs()))


def _module_object(module: str, kind: str) -> dict[str, Any]:
    return {"_module": module, "_class": kind, "_object": "{}"}


injected = st.builds(
    _module_object,
    st.sampled_from([THROWAWAY, MISSING_MODULE, THROWAWAY, "os", "subprocess", "pandapower_x"]),
    st.sampled_from(["DataFrame", "function", "system", "pandapowerNet", "exec"]),
)
table_values = json_values | injected | st.sampled_from(["not a table", [1, 2], 1e308, None])


@st.composite
def mutated_nets(draw: st.DrawFn) -> dict[str, Any]:
    """The case4gs document with a few mutations: tables deleted, replaced by hostile values
    or by objects naming modules (``_module``/``_class``), cells and columns of tables
    changed, the document's own ``_module``/``_class``/``_object`` changed."""
    document = json.loads(case4gs())
    tables = document["_object"]
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*sorted(tables), "location", "bus"]))
        action = draw(st.sampled_from(["delete", "replace", "inject", "cell", "columns", "top"]))
        entry = tables.get(name)
        if action == "delete":
            tables.pop(name, None)
        elif action == "inject":
            tables[name] = draw(injected)
        elif action == "top":
            key = draw(st.sampled_from(["_module", "_class", "_object"]))
            document[key] = draw(table_values | st.sampled_from([THROWAWAY, "pandapower_x"]))
        elif action in ("cell", "columns") and isinstance(entry, dict) and "_object" in entry:
            frame = json.loads(entry["_object"])
            if action == "columns" and "columns" in frame:
                frame["columns"] = draw(st.lists(hostile_texts, max_size=4) | json_values)
            elif frame.get("data"):
                row = draw(st.integers(0, len(frame["data"]) - 1))
                if frame["data"][row]:
                    column = draw(st.integers(0, len(frame["data"][row]) - 1))
                    frame["data"][row][column] = draw(table_values)
            entry["_object"] = json.dumps(frame, allow_nan=True)
        else:
            tables[name] = draw(table_values)
    return document


@pytest.fixture(scope="module")
def throwaway(scratch: Path) -> Iterator[Path]:
    """A module on ``sys.path`` that must never be imported by loading a feeder."""
    directory = scratch / "modules"
    directory.mkdir()
    (directory / f"{THROWAWAY}.py").write_text("IMPORTED = True\n")
    sys.path.insert(0, str(directory))
    try:
        yield directory
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop(THROWAWAY, None)


def test_loading_a_mutated_pandapower_json_gives_a_feeder_or_a_feeder_error(
    scratch: Path, throwaway: Path
) -> None:
    path = scratch / "feeder.json"

    @settings(BOUNDED, max_examples=40, phases=[Phase.explicit, Phase.generate])
    @given(document=mutated_nets())
    @example(document={**json.loads(case4gs()), "_module": THROWAWAY})
    @example(document={**json.loads(case4gs()), "_module": "pandapower_hx_x"})
    def check(document: dict[str, Any]) -> None:
        path.write_text(json.dumps(document, allow_nan=True))
        try:
            feeder = load_feeder(path, cache_dir=scratch)
        except FeederError:
            pass
        else:
            assert len(feeder.net.bus) >= 1
        imported = [name for name in (THROWAWAY, MISSING_MODULE) if name in sys.modules]
        for name in imported:  # so that the next example is judged on its own
            del sys.modules[name]
        assert not imported, f"loading the file imported {imported}"

    check()


@pytest.mark.parametrize(
    "change",
    ["bus-string", "bus-list", "nested-throwaway", "function-throwaway", "deep", "nan-location"],
)
def test_the_testers_feeder_files_are_feeder_errors(
    scratch: Path, throwaway: Path, change: str
) -> None:
    document = json.loads(case4gs())
    tables = document["_object"]
    if change == "bus-string":
        tables["bus"] = "not a table"
    elif change == "bus-list":
        tables["bus"] = [1, 2, 3]
    elif change == "nested-throwaway":
        tables["bus"] = _module_object(THROWAWAY, "DataFrame")
    elif change == "function-throwaway":
        tables["name"] = {"_module": THROWAWAY, "_class": "function", "_object": "IMPORTED"}
    elif change == "deep":
        tables["bus"] = json.loads("[" * 900 + "]" * 900)
    else:
        tables["location"] = {"latitude_deg": math.nan, "longitude_deg": 7.9, "tz": "UTC"}
    path = scratch / f"{change}.json"
    path.write_text(json.dumps(document, allow_nan=True))
    try:
        with pytest.raises(FeederError):
            load_feeder(path, cache_dir=scratch)
    finally:
        imported = sys.modules.pop(THROWAWAY, None) is not None
    assert not imported, f"{change}: the file imported {THROWAWAY}"
