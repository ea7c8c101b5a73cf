"""JSON in and out of the service: the strict configuration of its request models, and
values made storable as JSON documents."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import ConfigDict

#: request models: no coercion, unknown fields and NaN/infinity rejected, immutable
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars made Python and non-finite floats made ``None``."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
