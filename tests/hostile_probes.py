"""Hostile HTTP requests built systematically from the service's OpenAPI document (used by
``test_hostile_inputs.py``).

For every operation of the document: every path parameter replaced by hostile ids (``/`` as
``%2F``, NUL, U+202E, 5,000 characters, invalid UTF-8, numbers out of range for integers);
every query parameter by values of the wrong type, out of range, NaN as text and, for date-time
parameters, the ends of the calendar with offsets; API keys in the query string and in broken
headers; an undocumented method. For every operation with a JSON body: a family of broken bodies
(nested 5,000 deep, arrays for objects, empty, garbage, not UTF-8, wrong content types, several
MiB) and, for every field of a valid body, hostile values (huge, tiny, NaN as literal and as
text, wrong JSON types, oversized strings, deep nesting; calendar edges with offsets for every
date-time field). :func:`stratified` takes a subset with every kind of probe for every
operation and every hostile value.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

PREFIX = "/api/v1"
DEEP = 5000
LONG = "x" * 5000
JSON = "application/json"
METHODS = ("get", "put", "post", "delete", "patch")

#: the ends of the calendar with the largest offsets, and date-times that are no date-times
DATETIME_TEXTS = (
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59.999999-23:59",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59-01:00",
    "2201-01-01T00:00:00+01:00",
    "2024-06-21",
    "2024-06-21T10:00:00",
    "2024-13-45T99:99:99Z",
    "2024-06-21T10:00:00+99:00",
    "-0001-01-01T00:00:00Z",
    "12345",
)


class Raw(str):
    """JSON text to put into a body as it is (``NaN``, a 400-digit integer, deep nesting)."""


DEEP_ARRAY = Raw("[" * DEEP + "]" * DEEP)
#: hostile values of a JSON field (name, value)
FIELD_VALUES: tuple[tuple[str, Any], ...] = (
    ("1e308", 1e308),
    ("-1e308", -1e308),
    ("5e-324", 5e-324),
    ("int-400-digits", Raw("1" + "0" * 400)),
    ("-int-400-digits", Raw("-1" + "0" * 400)),
    ("1e999", Raw("1e999")),
    ("NaN-literal", Raw("NaN")),
    ("-Infinity-literal", Raw("-Infinity")),
    ("NaN-text", "NaN"),
    ("Infinity-text", "Infinity"),
    ("number-as-text", "1.5"),
    ("true", True),
    ("null", None),
    ("array", [1]),
    ("object", {"a": 1}),
    ("empty-text", ""),
    ("5000-chars", LONG),
    ("slash-nul-rtl", "a/b\x00\u202e"),
    ("deep-5000", DEEP_ARRAY),
)
DATETIME_VALUES: tuple[tuple[str, Any], ...] = (
    *((text, text) for text in DATETIME_TEXTS),
    ("number", 12345),
    ("float", 1.7e9),
)
#: hostile path segments (percent-encoded when sent: ``/`` travels as ``%2F``)
PATH_TEXTS = (
    "a/b",
    "/",
    "../..",
    "a\x00b",
    "pv\u202egnp.exe",
    LONG,
    " pv ",
    "\U0001f600",
    "x' OR '1'='1",
    "%",
)
PATH_INTEGERS = ("-1", "0", "1" + "0" * 40, "1e308", "NaN", "1.5", "0x1f", "9223372036854775808")
QUERY_VALUES = {
    "integer": ("-1", "0", "1e308", "NaN", "1" + "0" * 40, "", "true", "1.5"),
    "number": ("NaN", "Infinity", "-inf", "1e309", "5e-324", ""),
    "boolean": ("maybe", "2", "", "NaN"),
    "string": ("\x00", "\u202e", LONG, "a/b", "x' OR '1'='1", "%"),
}


@dataclass(frozen=True)
class Probe:
    """One request: under :data:`PREFIX`, with the key of ``role`` unless ``headers`` say
    otherwise; ``expect`` is the exact status when the refusal is specified."""

    family: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    content_type: str | None = JSON
    role: str | None = "admin"
    headers: tuple[tuple[str, bytes], ...] = ()
    expect: int | None = None
    #: the operation probed (``"<METHOD> <template>"``), set by :func:`probes`
    operation: str = ""

    @property
    def kind(self) -> str:
        """What is made hostile: ``path <name>``, ``query <name>``, ``field <path>``,
        ``body`` or the name of an authentication or method probe."""
        if self.family.startswith("body "):
            return "body"
        return self.family.split("=", 1)[0]

    @property
    def group(self) -> str:
        """The kind without its parameter or field: ``path``, ``query``, ``field``, ``body``
        or the name of an authentication or method probe."""
        return self.kind.split(" ", 1)[0]

    @property
    def value(self) -> str:
        """The hostile value's label (the family for authentication and method probes)."""
        if self.family.startswith("body "):
            return self.family.removeprefix("body ")
        return self.family.split("=", 1)[-1]

    def describe(self) -> str:
        """The request in one line (long parts cut)."""
        query = f"?{urlencode(self.params)}" if self.params else ""
        text = f"{self.method.upper()} {PREFIX}{self.path}{query}"[:300]
        if self.content is not None:
            text += f" [{self.content_type}] {self.content[:160]!r}"
        return f"{self.family}: {text}"


def dumps(value: Any) -> bytes:
    """``value`` as JSON text, :class:`Raw` strings inserted as they are."""
    raws: list[str] = []

    def mark(item: Any) -> Any:
        if isinstance(item, Raw):
            raws.append(str(item))
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(item, Mapping):
            return {key: mark(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [mark(inner) for inner in item]
        return item

    text = json.dumps(mark(value))
    for number, raw in enumerate(raws):
        text = text.replace(f'"@@raw{number}@@"', raw, 1)
    return text.encode()


def kinds(schema: Mapping[str, Any]) -> set[str]:
    """Types and formats a (sub)schema admits (through ``anyOf``/``oneOf``/``allOf``)."""
    found = {str(schema["type"])} if "type" in schema else set()
    if "format" in schema:
        found.add(str(schema["format"]))
    for key in ("anyOf", "oneOf", "allOf"):
        for inner in schema.get(key, []):
            found |= kinds(inner)
    return found


def _resolve(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def datetime_fields(doc: Mapping[str, Any], schema: Mapping[str, Any], seen: set[str]) -> set[str]:
    """Names of the date-time properties anywhere in ``schema`` (references followed)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return set()
        seen.add(name)
    schema = _resolve(doc, schema)
    found: set[str] = set()
    for name, inner in schema.get("properties", {}).items():
        if "date-time" in kinds(_resolve(doc, inner)):
            found.add(name)
        found |= datetime_fields(doc, inner, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for inner in schema.get(key, []):
            found |= datetime_fields(doc, inner, seen)
    if "items" in schema:
        found |= datetime_fields(doc, schema["items"], seen)
    return found


def field_paths(body: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field of a body: its keys, the keys of nested objects and of first list items."""
    if isinstance(body, Mapping):
        for key, value in body.items():
            yield (*prefix, key)
            yield from field_paths(value, (*prefix, key))
    elif isinstance(body, list) and body and isinstance(body[0], Mapping):
        yield from field_paths(body[0], (*prefix, 0))


def with_value(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``body`` with the field at ``path`` set to ``value``."""
    changed = copy.deepcopy(body)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def body_family(base: bytes) -> Iterator[tuple[str, bytes, str | None]]:
    """Broken bodies of one operation: (name, content, content type)."""
    yield "deep-arrays-5000", b"[" * DEEP + b"]" * DEEP, JSON
    yield "deep-objects-5000", b'{"a":' * DEEP + b"1" + b"}" * DEEP, JSON
    yield "deep-unclosed-5000", b"[" * DEEP, JSON
    yield "deep-objects-3000", b'{"a":' * 3000 + b"1" + b"}" * 3000, JSON
    yield "array-for-object", b"[]", JSON
    yield "array-of-the-body", b"[" + base + b"]", JSON
    yield "string", b'"text"', JSON
    yield "number", b"1e308", JSON
    yield "null", b"null", JSON
    yield "true", b"true", JSON
    yield "empty", b"", JSON
    yield "garbage", b"\x00\xff\xfe{{{", JSON
    yield "not-utf-8", b'{"a": "\xff\xfe"}', JSON
    yield "utf-16", base.decode().encode("utf-16"), JSON
    yield "truncated", base[: len(base) // 2], JSON
    yield "NaN-literal", b'{"a": NaN}', JSON
    yield "int-5000-digits", b'{"a": 1' + b"0" * 5000 + b"}", JSON
    yield "wide-object", dumps({f"k{i}": i for i in range(5_000)}), JSON
    yield "4-MiB-string", base[:-1] + b', "padding": "' + b"a" * 4 * 2**20 + b'"}', JSON
    yield "text-plain", base, "text/plain"
    yield "xml", b"<feeder/>", "application/xml"
    yield "form", b"a=1&b=2", "application/x-www-form-urlencoded"
    yield "multipart-without-boundary", base, "multipart/form-data"
    yield "no-content-type", base, None


def _field_values(name: Any, dates: set[str]) -> tuple[tuple[str, Any], ...]:
    return FIELD_VALUES + (DATETIME_VALUES if name in dates else ())


def _segment(path: str, name: str, value: str, real: Mapping[str, str]) -> str:
    text = path
    for key, known in real.items():
        text = text.replace(f"{{{key}}}", value if key == name else known)
    return text


def _auth_probes(method: str, path: str, secured: bool, admin_key: str) -> Iterator[Probe]:
    yield Probe("api-key-in-query", method, path, (("api_key", admin_key),), role=None, expect=400)
    yield Probe("token-in-query", method, path, (("token", "x"),), expect=400)
    if not secured:
        return
    yield Probe("no-key", method, path, role=None, expect=401)
    for name, value in (
        ("5000-char-key", b"gdm_" + LONG.encode()),
        ("latin-1-key", b"\xff\xfe"),
        ("empty-key", b""),
    ):
        yield Probe(name, method, path, role=None, headers=(("x-api-key", value),), expect=401)
    bearer = (("authorization", b"Bearer \xffa"),)
    yield Probe("latin-1-bearer", method, path, role=None, headers=bearer, expect=401)


def probes(
    doc: Mapping[str, Any],
    real: Mapping[str, Mapping[str, str]],
    bases: Mapping[str, list[Any]],
    admin_key: str,
) -> Iterator[Probe]:
    """The hostile requests for every operation of ``doc``.

    Parameters
    ----------
    doc : dict
        The OpenAPI document.
    real : dict
        Per path template (without :data:`PREFIX`) the real value of each path parameter
        (``"*"``: the default for every template).
    bases : dict
        Valid bodies per component schema name, or per ``"<METHOD> <name>"`` for one method
        (the fields of each are made hostile one by one); an operation whose body schema has
        none gets only the broken bodies.
    admin_key : str
        The admin key (sent in the query string, where it must be refused).
    """
    for full, operations in doc["paths"].items():
        path = full.removeprefix(PREFIX)
        values = {**real["*"], **real.get(path, {})}
        for probe in _path_probes(doc, path, operations, values, bases, admin_key):
            yield replace(probe, operation=f"{probe.method.upper()} {path}")


def _path_probes(
    doc: Mapping[str, Any],
    path: str,
    operations: Mapping[str, Any],
    values: Mapping[str, str],
    bases: Mapping[str, list[Any]],
    admin_key: str,
) -> Iterator[Probe]:
    concrete = _segment(path, "", "", values)
    documented = {m for m in operations if m in METHODS}
    for method in sorted(set(METHODS) - documented)[:1]:
        yield Probe("undocumented-method", method, concrete, expect=405)
    for method, operation in operations.items():
        if method not in METHODS:
            continue
        parameters = operation.get("parameters", [])
        yield from _auth_probes(method, concrete, "security" in operation, admin_key)
        for parameter in parameters:
            name, schema = parameter["name"], parameter.get("schema", {})
            if parameter["in"] == "path":
                integer = "integer" in kinds(schema)
                hostile = (*PATH_INTEGERS, *PATH_TEXTS[:5]) if integer else PATH_TEXTS
                for value in hostile:
                    target = _segment(path, name, quote(value, safe=""), values)
                    yield Probe(f"path {name}={value[:20]!r}", method, target)
                target = _segment(path, name, "%FF%FE", values)
                yield Probe(f"path {name}=invalid UTF-8", method, target)
            elif parameter["in"] == "query":
                found = kinds(schema)
                kind = next(
                    (k for k in ("date-time", "integer", "number", "boolean") if k in found),
                    "string",
                )
                texts = DATETIME_TEXTS if kind == "date-time" else QUERY_VALUES[kind]
                for value in texts:
                    family = f"query {name}={value[:20]!r}"
                    yield Probe(family, method, concrete, ((name, value),))
        content = operation.get("requestBody", {}).get("content", {})
        if JSON not in content or "multipart/form-data" in content:
            continue
        reference = content[JSON].get("schema", {})
        schema_name = str(reference.get("$ref", "")).rsplit("/", 1)[-1]
        dates = datetime_fields(doc, reference, set())
        top = _resolve(doc, reference).get("properties", {}) if reference else {}
        samples = bases.get(f"{method.upper()} {schema_name}") or bases.get(schema_name)
        samples = samples or [{}]
        for name, body, kind in body_family(dumps(samples[0])):
            yield Probe(f"body {name}", method, concrete, content=body, content_type=kind)
        for sample in samples:
            paths = list(field_paths(sample))
            paths += [(name,) for name in sorted(dates & set(top)) if name not in sample]
            for field in paths:
                for label, value in _field_values(field[-1], dates):
                    body = dumps(with_value(sample, field, value))
                    family = f"field {'.'.join(map(str, field))}={label}"
                    yield Probe(family, method, concrete, content=body)


def stratified(listed: Iterable[Probe]) -> list[Probe]:
    """A deterministic subset of ``listed``: one probe per operation and kind
    (:attr:`Probe.kind`: each path and query parameter, each body field, the broken bodies,
    each authentication probe), the value taken in turn over the operations; then the first
    probe of every hostile value (per family: path, query, body, field) not sent yet."""
    everything = list(listed)
    strata: dict[tuple[str, str], list[Probe]] = {}
    for probe in everything:
        strata.setdefault((probe.operation, probe.kind), []).append(probe)
    turns: dict[str, int] = {}
    chosen = []
    for members in strata.values():
        group = members[0].group
        turn = turns.get(group, 0)
        turns[group] = turn + 1
        chosen.append(members[turn % len(members)])
    sent = {(probe.group, probe.value) for probe in chosen}
    for probe in everything:
        value = (probe.group, probe.value)
        if value not in sent:
            sent.add(value)
            chosen.append(probe)
    return chosen


def send(client: httpx.Client, keys: dict[str, str], probe: Probe) -> httpx.Response | str:
    """Send ``probe`` (once more on a fresh connection when the last one was dropped)."""
    headers: dict[str, str | bytes] = {"X-API-Key": keys[probe.role]} if probe.role else {}
    if probe.content is not None and probe.content_type is not None:
        headers["Content-Type"] = probe.content_type
    headers.update(probe.headers)
    error: Exception | None = None
    for _ in range(2):
        try:
            return client.request(
                probe.method.upper(),
                probe.path,
                params=list(probe.params) or None,
                content=probe.content,
                headers=headers,
            )
        except httpx.TransportError as exc:  # uvicorn drops the connection after a 500
            error = exc
    return f"transport error {error!r}"


def log_errors(log: Path) -> list[str]:
    """Each exception of the server log: its last line, after the 5xx request line before it."""
    found: list[str] = []
    request = "(no 5xx request line)"
    waiting = False
    for line in log.read_text(errors="replace").splitlines():
        if re.search(r'HTTP/[\d.]+" 5\d\d', line):
            request = line.split(" - ", 1)[-1]
        elif line.startswith("Traceback"):
            waiting = True
        elif waiting and line.strip() and not line.startswith((" ", "\t", "The above", "During")):
            entry = f"{request} -> {line[:300]}"
            if entry not in found:
                found.append(entry)
            waiting = False
    return found
