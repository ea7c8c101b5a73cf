"""Helpers shared by the benchmarks: the repository root, the test helpers on ``sys.path``
(``tests/service_fixtures.py`` serves the API, ``tests/payloads.py`` holds request bodies and
DER records) and a table header.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))


def print_header(header: str) -> None:
    """Print a table's header line and a rule as wide as it."""
    print(header)
    print("-" * len(header))
