"""Hostile pandapower JSON files to upload (used by ``test_hostile_inputs.py``): tables of the
wrong type, and files that name modules (``_module``) to import, each a sentinel module on the
server's ``PYTHONPATH`` that leaves a marker file when imported (:data:`UPLOADS`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

#: modules the uploaded files name, each on the server's PYTHONPATH (the prefix "pandapower"
#: passed the old loader's only check)
SENTINELS = ("hx_sentinel_nested", "hx_sentinel_function", "hx_sentinel_cell", "pandapower_hx")
#: a sentinel module imported leaves a file of its name in the directory $HX_SENTINEL_MARKERS
SENTINEL_SOURCE = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ['HX_SENTINEL_MARKERS'], __name__).write_text('imported')\n"
)


@cache
def _case4gs_text() -> str:
    import pandapower as pp
    import pandapower.networks as pn

    return str(pp.to_json(pn.case4gs()))


def case4gs_json() -> dict[str, Any]:
    """A real small pandapower JSON document (``pandapower.to_json(case4gs())``), a new copy."""
    document: dict[str, Any] = json.loads(_case4gs_text())
    return document


def _module_in_a_cell(document: dict[str, Any]) -> None:
    bus = document["_object"]["bus"]
    frame = json.loads(bus["_object"])
    frame["data"][0][0] = _naming(SENTINELS[2], "DataFrame")
    bus["_object"] = json.dumps(frame)


def _naming(module: str, kind: str, value: str = "{}") -> dict[str, str]:
    return {"_module": module, "_class": kind, "_object": value}


UPLOADS = {
    "bus-is-a-string": lambda d: d["_object"].update(bus="not a table"),
    "bus-is-a-list": lambda d: d["_object"].update(bus=[1, 2, 3]),
    "bus-is-a-number": lambda d: d["_object"].update(bus=1e308),
    "no-bus": lambda d: d["_object"].pop("bus"),
    "object-is-a-string": lambda d: d.update(_object="{}"),
    "nested-module": lambda d: d["_object"].update(bus=_naming(SENTINELS[0], "DataFrame")),
    "function-of-a-module": lambda d: d["_object"].update(
        name=_naming(SENTINELS[1], "function", "run")
    ),
    "module-in-a-cell": _module_in_a_cell,
    "module-prefix": lambda d: d.update(_module=SENTINELS[3]),
    "deep-in-a-table": lambda d: d["_object"].update(bus=json.loads("[" * 900 + "]" * 900)),
}
