"""Read pandapower JSON without importing anything the file names.

pandapower's reader (``pandapower.io_utils.pp_hook`` and ``FromSerializableRegistry``) imports
the module named by every ``{"_module": ..., "_class": ...}`` object of a file before it checks
the class (``import this`` runs for ``"_module": "this"``), decodes the ``_object`` text of a
JSONSerializableClass with its own unchecked decoder, and reads a DataFrame whose ``_object``
is an absolute path ending in ``.json`` from the disk. This module decodes the file itself: a
fixed allow-list (:data:`ALLOWED_TYPES`) of (module, class) pairs, each decoded by code of
pandas, numpy and pandapower that is already imported. Any other type, anywhere in the document
(nested objects, the cells of a DataFrame's ``_object`` text), is refused with its JSON path
before that object is decoded; nothing in this module imports a name read from a file.

What pandapower writes for a network (``pandapower.to_json``): the ``pandapowerNet``, its
tables as DataFrames, numpy scalars and arrays, pandas Series and Index, tuples, sets and
complex numbers. Controllers, characteristics, graphs, geometries and functions are refused.
The decoding of the allowed types follows pandapower 3.5 (``io_utils.FromSerializableRegistry``)
so the networks read are the same; only the DataFrame/Series keyword arguments pandapower
writes are accepted.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
from collections.abc import Callable
from typing import Any, NoReturn

import geojson
import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.convert_format import convert_format

from network_models.errors import FeederFileError
from network_models.json_values import (
    DECLARED_VALUES,
    dtype_kind,
    fits_declared,
    json_kind,
    key_path,
)

NET_TYPE = ("pandapower.auxiliary", "pandapowerNet")
#: numpy scalar types pandapower writes (``io_utils.json_npint/json_npfloat/json_npbool``)
NUMPY_SCALARS = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "bool", "bool_",
)  # fmt: skip
#: (module, class) -> kind of decoding: every type a feeder file may contain
ALLOWED_TYPES: dict[tuple[str, str], str] = {
    NET_TYPE: "net",
    ("pandas.core.frame", "DataFrame"): "frame",
    ("pandas", "DataFrame"): "frame",
    ("pandas.core.series", "Series"): "series",
    ("pandas", "Series"): "series",
    ("pandas", "Index"): "index",
    ("numpy", "array"): "array",
    **{("numpy", name): "scalar" for name in NUMPY_SCALARS},
    **{("builtins", name): "builtin" for name in ("tuple", "set", "frozenset", "complex")},
}
#: keys besides ``_module``, ``_class`` and ``_object`` each kind may have (what pandapower writes)
ALLOWED_KEYS: dict[str, frozenset[str]] = {
    "net": frozenset(),
    "frame": frozenset(
        {"orient", "dtype", "index_name", "column_name", "index_names", "column_names",
         "is_multiindex", "is_multicolumn"}
    ),
    "series": frozenset(
        {"orient", "dtype", "typ", "index_name", "index_names", "is_multiindex"}
    ),
    "index": frozenset({"dtype"}),
    "array": frozenset({"dtype"}),
    "scalar": frozenset({"dtype"}),
    "builtin": frozenset({"dtype"}),
}  # fmt: skip
#: orients ``pandas.read_json`` reads without a schema
ORIENTS = frozenset({"split", "columns", "index", "records", "values"})
#: GeoJSON types (``geojson.loads`` builds one object per ``type`` it finds)
GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
     "GeometryCollection", "Feature", "FeatureCollection"}
)  # fmt: skip
ALLOWED_TEXT = (
    "pandapower networks of pandas DataFrame, Series and Index, numpy arrays and scalars, "
    "tuple, set, frozenset and complex"
)


class RefusedTypeError(FeederFileError):
    """A feeder file names a type outside :data:`ALLOWED_TYPES`; nothing was imported.

    Attributes
    ----------
    module, class_name : str
        The refused ``_module`` and ``_class``.
    where : str
        JSON path of the object, e.g. ``$._object.bus``.
    """

    def __init__(self, message: str, module: str, class_name: str, where: str) -> None:
        super().__init__(message)
        self.module = module
        self.class_name = class_name
        self.where = where


class Decoder:
    """Decodes one pandapower JSON document of file ``source`` (named in every error)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> NoReturn:
        """Raise :class:`FeederFileError` naming the file, the JSON path and the problem."""
        raise FeederFileError(f"cannot read feeder file '{self.source}': at {where}: {problem}")

    def value(self, node: object, where: str) -> object:
        """Decode a JSON value: every object with ``_module`` and ``_class`` is checked against
        :data:`ALLOWED_TYPES` and decoded, at any depth."""
        if type(node) is list:
            return [self.value(item, f"{where}[{i}]") for i, item in enumerate(node)]
        if type(node) is not dict:
            return node
        if "_module" in node and "_class" in node:
            return self.typed(node, where)
        return {key: self.value(item, key_path(where, key)) for key, item in node.items()}

    def typed(self, node: dict[str, Any], where: str) -> object:
        """Check the type of ``node`` against the allow-list, then decode it."""
        module, class_name = node["_module"], node["_class"]
        if not (isinstance(module, str) and isinstance(class_name, str)):
            self.fail(where, "_module and _class must be strings")
        kind = ALLOWED_TYPES.get((module, class_name))
        if kind is None:
            raise RefusedTypeError(
                f"cannot read feeder file '{self.source}': at {where}: refused type "
                f"'{class_name}' of module '{module}': not on the allow-list of a feeder file "
                f"({ALLOWED_TEXT}; pandapower controllers, characteristics, graphs, geometries "
                f"and functions are not read); nothing was imported",
                module,
                class_name,
                where,
            )
        if "_object" not in node:
            self.fail(where, f"the {class_name} has no _object")
        extra = sorted(set(node) - {"_module", "_class", "_object"} - ALLOWED_KEYS[kind])
        if extra:
            self.fail(where, f"unexpected key(s) {', '.join(map(repr, extra))} of a {class_name}")
        decode = DECODERS[kind]
        try:
            return decode(self, node, where)
        except (FeederFileError, RecursionError):
            raise
        except Exception as exc:  # a constructor refusing the data
            self.fail(where, f"not a valid {class_name}: {type(exc).__name__}: {exc}")

    # -- decoders of the allowed types ---------------------------------------------------------

    def net(self, node: dict[str, Any], where: str) -> pp.pandapowerNet:
        """A ``pandapowerNet``: an empty network updated with the decoded entries."""
        obj = node["_object"]
        if isinstance(obj, str):  # pandapower's old layout: the network as JSON text
            inner = self.value(self.parse(obj, f"{where}._object"), f"{where}._object")
            if not isinstance(inner, pp.pandapowerNet):
                self.fail(where, "its _object text is not a pandapower network")
            return inner
        if type(obj) is not dict:
            self.fail(where, f"the network's _object is {json_kind(obj)}, not an object")
        entries = {key: self.value(item, key_path(f"{where}._object", key)) for key, item in
                   obj.items()}  # fmt: skip
        net = pp.create_empty_network()
        net.update(entries)
        return net

    def parse(self, text: str, where: str) -> object:
        """``json.loads`` of an ``_object`` text, or a clear error."""
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(
                where,
                f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            )

    def _read_kwargs(self, node: dict[str, Any], where: str, kind: str) -> dict[str, Any]:
        """The ``pandas.read_json`` keyword arguments of a DataFrame or Series, checked."""
        kwargs: dict[str, Any] = {}
        if "orient" in node:
            if node["orient"] not in ORIENTS:
                self.fail(where, f"orient {node['orient']!r} is none of {sorted(ORIENTS)}")
            kwargs["orient"] = node["orient"]
        if "dtype" in node:
            dtype = node["dtype"]
            if kind == "series" and not isinstance(dtype, str):
                self.fail(where, f"dtype is {json_kind(dtype)}, not a dtype name")
            if kind == "frame" and not (
                type(dtype) is dict and all(isinstance(v, str) for v in dtype.values())
            ):
                self.fail(where, f"dtype is {json_kind(dtype)}, not column -> dtype name")
            kwargs["dtype"] = dtype
        if "typ" in node:
            if node["typ"] != "series":
                self.fail(where, f"typ {node['typ']!r} of a Series is not 'series'")
            kwargs["typ"] = "series"
        return kwargs

    def _object_text(self, node: dict[str, Any], where: str, what: str) -> str:
        obj = node["_object"]
        if not isinstance(obj, str):
            self.fail(where, f"the {what}'s _object is {json_kind(obj)}, not JSON text")
        return obj

    def frame(self, node: dict[str, Any], where: str) -> pd.DataFrame:
        """A DataFrame, as ``FromSerializableRegistry.DataFrame`` reads it (always from the
        text, never from a file), its object cells decoded by :meth:`value`."""
        text = self._object_text(node, where, "DataFrame")
        kwargs = self._read_kwargs(node, where, "frame")
        raw = self.parse(text, f"{where}._object")
        self._check_declared_types(raw, kwargs, where)
        try:
            df = pd.read_json(io.StringIO(text), precise_float=True, convert_axes=False, **kwargs)
        except Exception as exc:
            self.fail(f"{where}._object", f"not a readable table: {type(exc).__name__}: {exc}")
        orient = kwargs.get("orient")
        if not df.shape[0] or orient == "columns":
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                df.set_index(df.index.astype(np.int64), inplace=True)
        if orient == "columns":
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                df.columns = df.columns.astype(np.int64)
        if node.get("index_name") is not None:
            df.index.name = node["index_name"]
        if node.get("column_name") is not None:
            df.columns.name = node["column_name"]
        if node.get("is_multiindex", False):
            df.index = _multiindex(df.index, node.get("index_names"), len(df))
        if node.get("is_multicolumn", False):
            df.columns = _multiindex(df.columns, node.get("column_names"), len(df))
        if "geo" in df.columns:
            geo = df["geo"].dropna()
            for label, item in geo.items():
                self._check_geojson(item, f"{where}._object[row {label!r}, column 'geo']")
            df["geo"] = geo.apply(json.dumps).apply(geojson.loads)
        for column in df.select_dtypes(include=["object"]):
            labels = iter(df.index)
            cell_where = f"{where}._object[row {{}}, column {column!r}]"
            df[column] = df[column].apply(
                lambda cell, w=cell_where, rows=labels: self._cell(cell, w, rows)
            )
            df[column] = df[column].astype(dtype="object")
            df.loc[pd.isnull(df[column]), column] = None
        return df

    def _cell(self, cell: object, where: str, labels: Any) -> object:
        label = next(labels)
        if type(cell) is dict or type(cell) is list:
            return self.value(cell, where.format(repr(label)))
        return cell

    def _check_geojson(self, item: object, where: str) -> None:
        """Only GeoJSON geometries and features in a ``geo`` cell (``geojson.loads`` builds an
        object for the ``type`` of every JSON object it reads)."""
        if isinstance(item, list):
            for part in item:
                self._check_geojson(part, where)
        elif isinstance(item, dict):
            if "type" in item and item["type"] not in GEOJSON_TYPES:
                known = sorted(GEOJSON_TYPES)
                self.fail(where, f"GeoJSON type {item['type']!r} is none of {known}")
            for part in item.values():
                self._check_geojson(part, where)

    def _check_declared_types(self, raw: object, kwargs: dict[str, Any], where: str) -> None:
        """In a ``split`` table, the values of a column the file declares numeric or boolean
        must be numbers or booleans (``read_json`` would turn ``"abc"`` into True)."""
        dtypes = kwargs.get("dtype")
        if kwargs.get("orient") != "split" or type(dtypes) is not dict or type(raw) is not dict:
            return
        columns, index, data = raw.get("columns"), raw.get("index"), raw.get("data")
        if not (type(columns) is list and type(data) is list):
            return
        index = index if type(index) is list and len(index) == len(data) else range(len(data))
        for position, column in enumerate(columns):
            kind = dtype_kind(dtypes.get(column)) if isinstance(column, str) else ""
            if not kind:
                continue
            for label, row in zip(index, data, strict=True):
                if type(row) is not list or position >= len(row) or row[position] is None:
                    continue
                value = row[position]
                if not fits_declared(value, kind):
                    self.fail(
                        f"{where}._object[row {label!r}, column {column!r}]",
                        f"{column} is {json_kind(value)}, but the table declares the column "
                        f"{dtypes[column]} ({DECLARED_VALUES[kind]})",
                    )

    def series(self, node: dict[str, Any], where: str) -> pd.Series:
        """A Series, as ``FromSerializableRegistry.Series`` reads it (from the text)."""
        text = self._object_text(node, where, "Series")
        kwargs = self._read_kwargs(node, where, "series")
        self.parse(text, f"{where}._object")
        series = pd.read_json(io.StringIO(text), precise_float=True, **kwargs)
        if node.get("index_name") is not None:
            series.index.name = node["index_name"]
        if node.get("is_multiindex", False):
            series.index = _multiindex(series.index, node.get("index_names"), len(series))
        return series

    def index(self, node: dict[str, Any], where: str) -> pd.Index:
        """A pandas Index of the decoded values (``dtype`` a dtype name)."""
        dtype = node.get("dtype")
        if dtype is not None and not isinstance(dtype, str):
            self.fail(where, f"dtype is {json_kind(dtype)}, not a dtype name")
        values = self.value(node["_object"], f"{where}._object")
        return pd.Index(values, **({"dtype": dtype} if dtype is not None else {}))

    def array(self, node: dict[str, Any], where: str) -> np.ndarray:
        """A numpy array of the decoded values (pandapower ignores the written dtype too)."""
        return np.array(self.value(node["_object"], f"{where}._object"))

    def scalar(self, node: dict[str, Any], where: str) -> object:
        """A numpy scalar; a numpy bool is a Python bool of ``"true"``/``"false"`` (pandapower
        reads ``"false"`` as True)."""
        obj, class_name = node["_object"], node["_class"]
        if not isinstance(obj, str | int | float):
            self.fail(where, f"the numpy {class_name}'s _object is {json_kind(obj)}")
        if class_name in ("bool", "bool_"):
            if obj in ("true", "false", True, False):
                return obj in ("true", True)
            self.fail(where, f"the numpy bool's _object is {json_kind(obj)}, not true or false")
        return getattr(np, class_name)(obj)

    def builtin(self, node: dict[str, Any], where: str) -> object:
        """A tuple, set or frozenset of the decoded values, or a complex number from text."""
        class_name = node["_class"]
        values = self.value(node["_object"], f"{where}._object")
        if class_name == "complex":
            if not isinstance(values, str | int | float):
                self.fail(where, f"the complex's _object is {json_kind(values)}")
            return complex(values)
        if type(values) is not list:
            self.fail(where, f"the {class_name}'s _object is {json_kind(values)}, not a list")
        constructor: dict[str, Callable[[list[Any]], object]] = {
            "tuple": tuple, "set": set, "frozenset": frozenset,
        }  # fmt: skip
        return constructor[class_name](values)


DECODERS: dict[str, Callable[[Decoder, dict[str, Any], str], object]] = {
    "net": Decoder.net,
    "frame": Decoder.frame,
    "series": Decoder.series,
    "index": Decoder.index,
    "array": Decoder.array,
    "scalar": Decoder.scalar,
    "builtin": Decoder.builtin,
}


def _multiindex(labels: pd.Index, names: object, rows: int) -> pd.Index:
    """pandapower's MultiIndex restore: ``ast.literal_eval`` of each label (left as it is when
    that fails, as pandapower does)."""
    try:
        if rows == 0:
            index = pd.MultiIndex.from_frame(pd.DataFrame(columns=names, dtype=np.int64))
        else:
            index = pd.MultiIndex.from_tuples([ast.literal_eval(str(v)) for v in labels])
    except Exception:
        return labels
    if names is not None:
        index.names = names
    return index


def read_pandapower_json(text: str, source: str, *, convert: bool = False) -> pp.pandapowerNet:
    """Read a network written by ``pandapower.to_json``, importing nothing the file names.

    Parameters
    ----------
    text : str
        The JSON text.
    source : str
        The file, named in every error.
    convert : bool
        Run pandapower's ``convert_format`` (what ``pandapower.from_json`` does; the default of
        ``pandapower.from_json_string`` is not to).

    Raises
    ------
    RefusedTypeError
        A type outside :data:`ALLOWED_TYPES`, with its JSON path, module and class.
    FeederFileError
        Not JSON, not a pandapower network, no bus table, an internal entry (``_ppc``...,
        which ``pandapower.to_json`` never writes), a malformed object or table (its JSON path
        named). The loader checks the shape of the entries
        (:func:`network_models.loaders.check_net_shape`).
    """
    where = f"cannot read feeder file '{source}'"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeederFileError(
            f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from exc
    if type(document) is not dict or (document.get("_module"), document.get("_class")) != NET_TYPE:
        found = json_kind(document)
        if type(document) is dict:
            found = f"_module {document.get('_module')!r}, _class {document.get('_class')!r}"
        raise FeederFileError(
            f"{where}: valid JSON but not a pandapower network (expected an object written by "
            f"pandapower.to_json, with _module 'pandapower.auxiliary' and _class "
            f"'pandapowerNet'; found {found})"
        )
    entries = document.get("_object")
    if isinstance(entries, str):
        try:
            entries = json.loads(entries).get("_object")
        except (json.JSONDecodeError, AttributeError):
            entries = None
    if type(entries) is not dict:
        raise FeederFileError(
            f"{where}: the network's _object is {json_kind(entries)}, not an object of tables"
        )
    try:
        net = Decoder(source).value(document, "$")
    except RecursionError:
        raise FeederFileError(f"{where}: the JSON is nested too deeply") from None
    assert isinstance(net, pp.pandapowerNet)  # the allow-listed net type decodes to a net
    if "bus" not in entries:
        raise FeederFileError(f"{where}: the network has no bus table")
    internal = sorted(key for key in entries if key.startswith("_"))
    if internal:
        raise FeederFileError(
            f"{where}: the network entry '{internal[0]}' is internal to pandapower, which never "
            f"writes it to a file"
        )
    if convert:
        convert_format(net)
    return net
