"""The ``gridderms`` command line.

Commands: ``feeders`` (list built-ins), ``inspect``, ``ders``, ``dispatch``, ``powerflow`` and
``hosting-capacity`` (each of a ``FEEDER``).

Output contract: with ``--json`` standard output is one strict JSON document and nothing else
(non-finite numbers are ``null``; solver banners are kept off it), and so is every JSON file
written with ``--out``. Bad input ends with one line ``gridderms: error: <message>`` on stderr
and exit status 2, never a traceback; a dispatch that cannot meet its limits is a result, not an
error: its diagnosis (or JSON with ``status`` ``"infeasible"``) and exit status 3.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

from pydantic import ValidationError

from gridderms.cli.dispatch import EXIT_INFEASIBLE
from gridderms.cli.parser import build_parser
from gridderms.ders import DerError
from gridderms.output import EXIT_BAD_INPUT, error, settings_problem
from network_models.errors import FeederError
from solvers.powerflow import PowerFlowError

__all__ = ["EXIT_BAD_INPUT", "EXIT_INFEASIBLE", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridderms`` console script."""
    _quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ValidationError as exc:  # a GRIDDERMS_* environment setting (pydantic-settings)
        return error(settings_problem(exc))
    except (FeederError, PowerFlowError, DerError, ValueError, OSError) as exc:
        return error(str(exc))


def _quiet_libraries() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="pandapower")
    logging.getLogger("pandapower").setLevel(logging.ERROR)
