"""The output contract of the command lines (``gridderms``, ``gridderms-service``).

Strict JSON: ``json.dumps`` writes ``NaN`` and ``Infinity`` by default, which are not JSON, and
a strict parser (``jq``, JavaScript, ``json.loads(..., parse_constant=...)``) rejects the whole
document. :func:`dumps` makes non-finite floats ``null`` and numpy scalars and arrays Python
values, and encodes with ``allow_nan=False``, so anything that slips through is an error
instead of invalid output.

One-line errors: :func:`error` prints ``<prog>: error: <message>`` (argparse's form) as one
line on standard error and returns the exit status 2.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

#: exit status of every refused command (argparse's own, for bad arguments)
EXIT_BAD_INPUT = 2


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made Python and non-finite floats made ``None``.

    Parameters
    ----------
    value : Any
        Nested mappings, lists and tuples of JSON-able values, numpy scalars or arrays.

    Returns
    -------
    Any
        The same structure (mapping keys as strings), ready for ``json.dumps(allow_nan=False)``.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``value`` (see :func:`json_safe`).

    Parameters
    ----------
    value : Any
        What to encode.
    indent : int or None
        Indentation, as for ``json.dumps``.

    Returns
    -------
    str
        Valid JSON: non-finite numbers are ``null``.
    """
    return json.dumps(json_safe(value), indent=indent, allow_nan=False)


def print_json(value: Any) -> None:
    """Print ``value`` as strict JSON on standard output (and flush it).

    Parameters
    ----------
    value : Any
        What to print.
    """
    sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as strict JSON to ``path``.

    Parameters
    ----------
    path : Path
        The file to (over)write.
    value : Any
        What to write.
    """
    path.write_text(dumps(value) + "\n")


def one_line(text: str) -> str:
    """``text`` on one line: its non-empty lines, stripped, joined by spaces.

    Parameters
    ----------
    text : str
        A message, possibly of several lines.

    Returns
    -------
    str
        The message on one line.
    """
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def error(message: str, prog: str = "gridderms") -> int:
    """Print ``<prog>: error: <message>`` as one line on standard error.

    Parameters
    ----------
    message : str
        What went wrong and how to fix it.
    prog : str
        The command's name.

    Returns
    -------
    int
        :data:`EXIT_BAD_INPUT`, for the caller to return.
    """
    if sys.stdout is not None:
        sys.stdout.flush()
    print(f"{prog}: error: {one_line(message) or 'unknown error'}", file=sys.stderr)
    return EXIT_BAD_INPUT


def settings_problem(exc: ValidationError) -> str:
    """What is wrong with the ``GRIDDERMS_*`` environment (a settings model's validation
    error), or with the fields of another pydantic model.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The error.

    Returns
    -------
    str
        One sentence naming each invalid variable (or field) and why.
    """
    if not exc.title.endswith("Settings"):
        fields = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'value'}: {item['msg']}"
            for item in exc.errors()
        )
        return f"invalid {exc.title}: {fields}"
    problems = []
    for item in exc.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        problems.append(f"GRIDDERMS_{name}: {item['msg']}")
    return "invalid setting " + "; ".join(problems) + " (fix or unset the environment variable)"
