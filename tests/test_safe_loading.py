"""Safe loading of pandapower JSON (issue 11, findings 5c and 6): a file naming a module
(``_module``) outside the allow-list is refused, naming the JSON path, module and class, and
the module is provably not imported (a throwaway module that would write a marker file, and
``this`` checked in a fresh interpreter); malformed tables are clear errors (422 through the
API, never 500); every built-in feeder and the pandapower files they come from read exactly
as pandapower reads them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandapower as pp
import pandas as pd
import pytest
from service_fixtures import ApiServer, api_server, fresh_database

from gridderms.persistence.migrate import upgrade
from network_models import loaders
from network_models.builtin import BUILTIN_FEEDERS
from network_models.errors import FeederFileError, FeederValidationError
from network_models.loaders import CACHE_FORMAT, load_feeder
from network_models.safe_json import RefusedTypeError, read_pandapower_json

REPO = Path(__file__).resolve().parents[1]
PANDAPOWER_NETWORKS = Path(pp.__file__).parent / "networks"
#: the pandapower files the built-ins are read from (pandapower.networks reads them)
PANDAPOWER_FILES = (
    PANDAPOWER_NETWORKS / "mv_oberrhein.json",
    PANDAPOWER_NETWORKS / "lv_schutterwald.json",
    PANDAPOWER_NETWORKS / "power_system_test_case_jsons" / "case33bw.json",
)
UPLOAD = "/feeders/upload"


# -- documents --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_doc() -> dict[str, Any]:
    """Baran-Wu as the JSON document ``pandapower.to_json`` writes."""
    document: dict[str, Any] = json.loads(pp.to_json(load_feeder("baran-wu-33").net))
    return document


@pytest.fixture(scope="module")
def cigre_doc() -> dict[str, Any]:
    """CIGRE MV with DER (it has storage and switches) as a ``pandapower.to_json`` document."""
    document: dict[str, Any] = json.loads(pp.to_json(load_feeder("cigre-mv-der").net))
    return document


def _copy(document: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(document))
    return copied


def _edit_table(
    document: dict[str, Any], table: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Apply ``edit`` to the split-orient JSON of ``table`` (its ``_object`` text)."""
    frame = document["_object"][table]
    split = json.loads(frame["_object"])
    edit(split)
    frame["_object"] = json.dumps(split)


def _set_cell(document: dict[str, Any], table: str, column: str, value: object) -> None:
    """Set the first row's ``column`` of ``table`` to ``value`` (the declared dtype kept)."""

    def edit(split: dict[str, Any]) -> None:
        split["data"][0][split["columns"].index(column)] = value

    _edit_table(document, table, edit)


def _write(tmp_path: Path, document: object, name: str = "feeder.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


@pytest.fixture
def marker_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A throwaway module on ``sys.path`` that writes a marker file when imported."""
    name = f"gridderms_marker_{uuid.uuid4().hex[:10]}"
    marker = tmp_path / f"{name}.imported"
    (tmp_path / f"{name}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "class Anything:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def _hostile(module: str, class_name: str = "Anything", obj: object = "{}") -> dict[str, Any]:
    return {"_module": module, "_class": class_name, "_object": obj}


#: where a hostile object goes: a label, the edit, the JSON path named in the error
PLACEMENTS: dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], None], str]] = {
    "an extra network entry": (
        lambda doc, bad: doc["_object"].__setitem__("gridderms_extra", bad),
        "$._object.gridderms_extra",
    ),
    "the bus table": (lambda doc, bad: doc["_object"].__setitem__("bus", bad), "$._object.bus"),
    "a list in user_pf_options": (
        lambda doc, bad: doc["_object"].__setitem__("user_pf_options", {"x": [1, bad]}),
        "$._object.user_pf_options.x[1]",
    ),
    "a tuple's items": (
        lambda doc, bad: doc["_object"].__setitem__(
            "user_pf_options", {"t": {"_module": "builtins", "_class": "tuple", "_object": [bad]}}
        ),
        "$._object.user_pf_options.t._object[0]",
    ),
    "a cell of a DataFrame's _object text": (
        lambda doc, bad: _set_cell(doc, "bus", "name", bad),
        "$._object.bus._object[row 0, column 'name']",
    ),
}


# -- refused types ------------------------------------------------------------------------------


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("class_name", ["Anything", "function", "DataFrame"])
def test_a_module_the_file_names_is_refused_and_never_imported(
    tmp_path: Path,
    base_doc: dict[str, Any],
    marker_module: tuple[str, Path],
    placement: str,
    class_name: str,
) -> None:
    module, marker = marker_module
    place, where = PLACEMENTS[placement]
    document = _copy(base_doc)
    place(document, _hostile(module, class_name, "IMPORTED" if class_name == "function" else "{}"))
    path = _write(tmp_path, document, "hostile.json")
    with pytest.raises(RefusedTypeError) as refused:
        load_feeder(path)
    message = str(refused.value)
    assert f"'{path}'" in message, message
    assert f"at {where}: refused type '{class_name}' of module '{module}'" in message, message
    assert (refused.value.module, refused.value.class_name) == (module, class_name)
    assert refused.value.where == where
    assert not marker.exists(), "the module named by the file was imported"
    assert module not in sys.modules


def test_this_and_os_system_are_refused_without_importing_or_running_anything(
    tmp_path: Path, base_doc: dict[str, Any]
) -> None:
    """In a fresh interpreter: ``import this`` would print the Zen of Python and put ``this``
    in ``sys.modules``; ``os.system`` would run the command, which writes a marker file."""
    marker = tmp_path / "ran"
    this_doc, system_doc, cell_doc = _copy(base_doc), _copy(base_doc), _copy(base_doc)
    this_doc["_object"]["name"] = _hostile("this", "x")
    system_doc["_object"]["bus"] = _hostile("os", "system", f"touch {marker}")
    _set_cell(cell_doc, "line", "name", _hostile("this", "function", "x"))
    paths = [
        _write(tmp_path, doc, f"{label}.json")
        for label, doc in (("this", this_doc), ("system", system_doc), ("cell", cell_doc))
    ]
    script = (
        "import sys\n"
        "from network_models.errors import FeederFileError\n"
        "from network_models.loaders import load_feeder\n"
        "assert 'this' not in sys.modules\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_feeder(path)\n"
        "    except FeederFileError as exc:\n"
        "        print('REFUSED', exc)\n"
        "print('IMPORTED' if 'this' in sys.modules else 'NOT IMPORTED')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "The Zen of Python" not in done.stdout
    assert lines[-1] == "NOT IMPORTED", done.stdout
    refused = [line for line in lines if line.startswith("REFUSED")]
    assert len(refused) == 3, done.stdout
    assert "at $._object.name: refused type 'x' of module 'this'" in refused[0]
    assert "at $._object.bus: refused type 'system' of module 'os'" in refused[1]
    assert "at $._object.line._object[row 0, column 'name']: refused type 'function'" in refused[2]
    assert not marker.exists()


def test_a_dataframe_never_reads_a_path_given_as_its_object(
    tmp_path: Path, base_doc: dict[str, Any]
) -> None:
    """pandapower reads a DataFrame whose ``_object`` is an absolute path ending in ``.json``
    from the disk; the safe reader reads only the text of the file it is given."""
    secret = tmp_path / "secret.json"
    secret.write_text(base_doc["_object"]["bus"]["_object"])
    document = _copy(base_doc)
    document["_object"]["bus"]["_object"] = str(secret)
    with pytest.raises(FeederFileError, match=r"at \$\._object\.bus\._object: not valid JSON"):
        load_feeder(_write(tmp_path, document))


# -- malformed files ----------------------------------------------------------------------------


def _bus(value: object) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["_object"].__setitem__("bus", value)


#: label -> (edit of the Baran-Wu document, or a whole document / text; what the error says)
MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None] | object, str]] = {
    "bus a string": (_bus("abc"), "table 'bus' is a string ('abc'), not a table"),
    "bus a list": (_bus([1, 2]), "table 'bus' is a list, not a table"),
    "bus a number": (_bus(3), "table 'bus' is a number (3), not a table"),
    "bus null": (_bus(None), "table 'bus' is null, not a table"),
    "bus missing": (lambda doc: doc["_object"].pop("bus"), "the network has no bus table"),
    "line a string": (
        lambda doc: doc["_object"].__setitem__("line", "x"),
        "table 'line' is a string ('x'), not a table",
    ),
    "vn_kv a string": (
        lambda doc: _set_cell(doc, "bus", "vn_kv", "12.66"),
        "at $._object.bus._object[row 0, column 'vn_kv']: vn_kv is a string ('12.66'), but the "
        "table declares the column float64 (numbers)",
    ),
    "in_service a string": (
        lambda doc: _set_cell(doc, "line", "in_service", "false"),
        "at $._object.line._object[row 0, column 'in_service']: in_service is a string "
        "('false'), but the table declares the column bool (true or false)",
    ),
    "from_bus not an integer": (
        lambda doc: _set_cell(doc, "line", "from_bus", 1.5),
        "from_bus is a number (1.5), but the table declares the column uint32 (integers)",
    ),
    "a DataFrame's _object not JSON": (
        lambda doc: doc["_object"]["bus"].__setitem__("_object", "{not json"),
        "at $._object.bus._object: not valid JSON (Expecting property name",
    ),
    "a DataFrame's _object a number": (
        lambda doc: doc["_object"]["bus"].__setitem__("_object", 5),
        "at $._object.bus: the DataFrame's _object is a number (5), not JSON text",
    ),
    "sn_mva a string": (
        lambda doc: doc["_object"].__setitem__("sn_mva", "x"),
        "'sn_mva' is a string ('x'), not a positive number",
    ),
    "the network's _object a list": (
        lambda doc: doc.__setitem__("_object", [1]),
        "the network's _object is a list, not an object of tables",
    ),
    "top level a list": ([1, 2], "'pandapowerNet'; found a list)"),
    "top level a string": (
        '"abc"',
        "not a pandapower network (expected an object written by "
        "pandapower.to_json, with _module 'pandapower.auxiliary' and _class "
        "'pandapowerNet'; found a string ('abc'))",
    ),
    "top level a number": ("42", "found a number (42)"),
}


def _malformed(base_doc: dict[str, Any], label: str) -> object:
    edit, _ = MALFORMED[label]
    if not callable(edit):
        return edit
    document = _copy(base_doc)
    edit(document)
    return document


@pytest.mark.parametrize("label", MALFORMED)
def test_a_malformed_file_is_a_file_error_naming_the_problem(
    tmp_path: Path, base_doc: dict[str, Any], label: str
) -> None:
    path = _write(tmp_path, _malformed(base_doc, label))
    with pytest.raises(FeederFileError) as error:
        load_feeder(path)
    assert MALFORMED[label][1] in str(error.value), str(error.value)
    assert f"'{path}'" in str(error.value)


def test_wrong_column_types_the_file_does_not_declare_are_validation_errors(
    tmp_path: Path, base_doc: dict[str, Any], cigre_doc: dict[str, Any]
) -> None:
    document = _copy(base_doc)
    document["_object"]["bus"]["dtype"]["vn_kv"] = "object"  # so the reader cannot tell
    _set_cell(document, "bus", "vn_kv", "abc")

    def string_index(split: dict[str, Any]) -> None:
        split["index"][1] = "b"

    _edit_table(document, "load", string_index)
    with pytest.raises(FeederValidationError) as invalid:
        load_feeder(_write(tmp_path, document))
    checks = {(i.check, i.element, i.element_id) for i in invalid.value.issues}
    assert checks == {("wrong_type", "bus", 0), ("wrong_type", "load", "b")}
    message = str(invalid.value)
    assert "bus 0: vn_kv = 'abc' is a string, not a number" in message, message
    assert "load b: id 'b' is a string, not an integer" in message, message
    # an unhashable switch type (a list) is named, not a TypeError
    switches = _copy(cigre_doc)
    _set_cell(switches, "switch", "et", ["l"])
    with pytest.raises(FeederValidationError, match=r"et=\['l'\] is not one of"):
        load_feeder(_write(tmp_path, switches, "switches.json"))


def test_a_bus_table_that_is_a_string_in_an_otherwise_empty_network_is_an_error(
    tmp_path: Path,
) -> None:
    """The tester's 500: no other table refers to a bus, so validation used to reach
    ``bus.vn_kv`` on an empty stand-in table (AttributeError)."""
    document = json.loads(pp.to_json(pp.create_empty_network()))
    document["_object"]["bus"] = "abc"
    with pytest.raises(FeederFileError, match=r"table 'bus' is a string \('abc'\), not a table"):
        load_feeder(_write(tmp_path, document))


# -- built-ins read exactly as before ------------------------------------------------------


def _assert_same_net(ours: pp.pandapowerNet, theirs: pp.pandapowerNet, label: str) -> None:
    assert set(ours.keys()) == set(theirs.keys()), label
    for key in ours:
        mine, pandapowers = ours[key], theirs[key]
        if isinstance(mine, pd.DataFrame):
            pd.testing.assert_frame_equal(mine, pandapowers, check_exact=True, obj=f"{label}.{key}")
            for column in mine.select_dtypes(include=["object"]).columns:
                assert list(map(type, mine[column])) == list(map(type, pandapowers[column]))
        elif key != "_pd2ppc_lookups":
            assert type(mine) is type(pandapowers), (label, key)
            assert repr(mine) == repr(pandapowers), (label, key)


def _pandapower_reads(text: str, *, convert: bool) -> pp.pandapowerNet:
    """The network as pandapower's own decoder reads it (the reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pp.from_json_string(text, convert=convert)


def _forbid_pandapower_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pandapower's JSON decoder (and building a built-in) fail from here on: what
    loads after this went through the safe reader."""

    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("pandapower's JSON decoder was used")

    for target in (pp, pp.file_io):
        monkeypatch.setattr(target, "from_json", forbidden)
        monkeypatch.setattr(target, "from_json_string", forbidden)
    monkeypatch.setattr(pp.io_utils, "pp_hook", forbidden)
    monkeypatch.setattr(loaders, "_build", forbidden)


@pytest.mark.parametrize("name", BUILTIN_FEEDERS)
def test_every_builtin_feeder_loads_from_its_cache_exactly_as_pandapower_reads_it(
    cache_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_feeder(name, cache_dir=cache_dir)  # the cache is written
    stem = hashlib.sha1(f"{CACHE_FORMAT}:{name}".encode()).hexdigest()[:12]
    text = (cache_dir / f"{name}-{stem}.json").read_text(encoding="utf-8")
    theirs = _pandapower_reads(text, convert=True)
    _forbid_pandapower_decoder(monkeypatch)
    feeder = load_feeder(name, cache_dir=cache_dir)  # validated as before
    _assert_same_net(feeder.net, theirs, name)


@pytest.mark.parametrize("path", PANDAPOWER_FILES, ids=lambda path: path.name)
def test_the_pandapower_files_of_the_builtins_load_exactly_as_pandapower_reads_them(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text(encoding="utf-8")
    references = {convert: _pandapower_reads(text, convert=convert) for convert in (False, True)}
    _forbid_pandapower_decoder(monkeypatch)
    _assert_same_net(load_feeder(path, validate=False).net, references[False], path.name)
    ours = read_pandapower_json(text, path.name, convert=True)
    _assert_same_net(ours, references[True], path.name)


def test_the_allowed_types_load_as_pandapower_reads_them(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy scalars and arrays, tuples, sets, a pandas Series and Index and a MultiIndex
    table, as pandapower writes them; a numpy False stays False (pandapower reads it True)."""
    import numpy as np

    net = load_feeder("baran-wu-33", cache_dir=cache_dir).net
    options = {
        "i": np.int64(3), "f": np.float32(1.5), "t": (1, np.int64(2)), "s": {1, 2},
        "fs": frozenset({3}), "a": np.array([1.0, 2.0]), "ix": pd.Index([4, 5]),
        "no": np.bool_(False),
    }  # fmt: skip
    net.user_pf_options = options
    net["series"] = pd.Series([1.0, 2.0], index=[3, 4])
    net["multi"] = pd.DataFrame(
        {"a": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, 2), (3, 4)], names=["p", "q"])
    )
    path = tmp_path / "typed.json"
    pp.to_json(net, str(path))
    theirs = _pandapower_reads(path.read_text(), convert=False)
    _forbid_pandapower_decoder(monkeypatch)
    ours = load_feeder(path).net
    assert ours.user_pf_options["no"] is False
    for key, value in options.items():
        if key != "no":
            assert repr(ours.user_pf_options[key]) == repr(theirs.user_pf_options[key]), key
            assert type(ours.user_pf_options[key]) is type(value), key
    pd.testing.assert_series_equal(ours.series, theirs.series)
    pd.testing.assert_frame_equal(ours.multi, theirs.multi)


# -- through the API ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Path, str]]:
    """The API on SQLite, with a throwaway marker module on its ``PYTHONPATH``."""
    directory = tmp_path_factory.mktemp("safe-loading")
    module = f"gridderms_marker_{uuid.uuid4().hex[:10]}"
    marker = directory / f"{module}.imported"
    (directory / f"{module}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
    )
    url = fresh_database("sqlite", directory)
    upgrade(url)
    with api_server(url, directory / "server.log", PYTHONPATH=str(directory)) as running:
        yield running, marker, module


def _upload(server: ApiServer, name: str, document: object) -> Any:
    text = document if isinstance(document, str) else json.dumps(document)
    with server.client("admin") as admin:
        return admin.post(UPLOAD, params={"name": name}, files={"file": ("model.json", text)})


def _message(response: Any) -> str:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    return str(error["msg"])


def test_a_hostile_upload_is_422_naming_the_module_and_imports_nothing(
    server: tuple[ApiServer, Path, str], base_doc: dict[str, Any]
) -> None:
    api, marker, module = server
    for label, (place, where) in PLACEMENTS.items():
        document = _copy(base_doc)
        place(document, _hostile(module))
        message = _message(_upload(api, "hostile", document))
        assert f"at {where}: refused type 'Anything' of module '{module}'" in message, label
        assert "'hostile.json'" in message, message  # the upload's name, not a temporary path
    this_doc = _copy(base_doc)
    this_doc["_object"]["bus"] = _hostile("this", "DataFrame")
    assert "module 'this'" in _message(_upload(api, "hostile", this_doc))
    assert not marker.exists(), "the server imported the module the upload named"
    with api.client("viewer") as viewer:
        assert viewer.get("/feeders/hostile").status_code == 404
    assert "The Zen of Python" not in api.log.read_text()
    # and a pandapower JSON naming only allowed types still loads
    response = _upload(api, "bw-safe", base_doc)
    assert response.status_code == 201, response.text
    with api.client("viewer") as viewer:
        assert viewer.get("/feeders/bw-safe").json()["buses"] == 33


def test_malformed_uploads_are_422_naming_the_table_or_field(
    server: tuple[ApiServer, Path, str], base_doc: dict[str, Any], cigre_doc: dict[str, Any]
) -> None:
    api, _, _ = server
    for label, (_, expected) in MALFORMED.items():
        message = _message(_upload(api, "malformed", _malformed(base_doc, label)))
        assert expected in message, (label, message)
        assert "'malformed.json'" in message, (label, message)
    empty = json.loads(pp.to_json(pp.create_empty_network()))
    empty["_object"]["bus"] = "abc"
    assert "table 'bus' is a string ('abc')" in _message(_upload(api, "malformed", empty))
    # a battery without energy capacity cannot be registered as a DER (was a 500)
    no_energy = _copy(cigre_doc)
    _set_cell(no_energy, "storage", "max_e_mwh", None)
    message = _message(_upload(api, "malformed", no_energy))
    assert "the DERs of 'malformed.json' cannot be registered" in message, message
    assert "storage 0" in message and "max_e_mwh" in message, message
    with api.client("viewer") as viewer:
        assert viewer.get("/feeders/malformed").status_code == 404
    log = api.log.read_text()
    assert "Traceback" not in log and " 500 " not in log, log[-4000:]
