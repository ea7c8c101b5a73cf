"""Named validation checks on a pandapower feeder model.

Each ``check_*`` function inspects the element tables and returns a list of
:class:`~network_models.errors.ValidationIssue`; :func:`validate_net` runs them all and raises one
:class:`~network_models.errors.FeederValidationError` that lists every problem found, so a user
fixes a file in one pass. Nothing is repaired silently. The checks live in
:mod:`network_models.structural_checks` (types, columns, ids, references) and
:mod:`network_models.electrical_checks` (impedances, ratings, voltages, supply).

Checks
------
``wrong_type``              a non-integer id, or a value not a number (true/false) in a column
                            pandapower keeps numeric (boolean)
``missing_column``          a column the checks and the power flow need (bus references,
                            ``in_service``, a switch's ``et``/``element``/``closed``)
``check_failed``            a check that could not run on the model (a malformed table)
``duplicate_id``            the same index twice in an element table
``unknown_bus_reference``   an element connected to a bus that does not exist
``unknown_element_reference``  a switch naming a line/transformer/bus that does not exist
``non_finite_value``        NaN or infinite value in a required column
``non_positive_impedance``  zero or negative impedance, length or short-circuit voltage
``missing_thermal_rating``  line without ``max_i_ka`` (or with the 99999 kA "unrated" placeholder
                            that pandapower's MATPOWER converter writes for RATE_A = 0),
                            transformer without a positive ``sn_mva``
``missing_voltage_limits``  bus without a positive nominal voltage, or with per-bus voltage limits
                            that are missing or inverted
``no_source``               no in-service external grid (slack) to supply the feeder
``islanded_bus``            a bus with in-service load, generation or storage that no source
                            supplies (so its power would silently vanish from a power flow)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandapower as pp

from network_models.electrical_checks import (
    check_impedances,
    check_islands,
    check_source,
    check_thermal_ratings,
    check_voltage_limits,
)
from network_models.errors import FeederValidationError, ValidationIssue
from network_models.structural_checks import (
    check_bus_references,
    check_column_types,
    check_duplicate_ids,
    check_finite_values,
    check_switch_references,
)

#: structural checks run first: later checks assume their tables are well formed
STRUCTURAL_CHECKS: tuple[Callable[[pp.pandapowerNet], list[ValidationIssue]], ...] = (
    check_duplicate_ids,
    check_bus_references,
    check_switch_references,
    check_finite_values,
)
ELECTRICAL_CHECKS: tuple[Callable[[pp.pandapowerNet], list[ValidationIssue]], ...] = (
    check_impedances,
    check_thermal_ratings,
    check_voltage_limits,
    check_source,
)


def find_issues(net: pp.pandapowerNet) -> list[ValidationIssue]:
    """Run every check and return all issues (empty for a valid model).

    Wrong types and missing columns stop the run first, then structural problems stop it
    before the electrical and topology checks, which assume well-formed tables. A check that
    raises on a malformed model gives a ``check_failed`` issue instead of the error.
    """
    issues = _run((check_column_types,), net)
    if issues:
        return issues
    issues = _run(STRUCTURAL_CHECKS, net)
    if issues:
        return issues
    issues = _run(ELECTRICAL_CHECKS, net)
    if any(issue.check == "no_source" for issue in issues):
        return issues
    return issues + _run((check_islands,), net)


def _run(
    checks: Iterable[Callable[[pp.pandapowerNet], list[ValidationIssue]]],
    net: pp.pandapowerNet,
) -> list[ValidationIssue]:
    issues = []
    for check in checks:
        try:
            issues += check(net)
        except Exception as exc:  # a model malformed in a way no check names
            issues.append(
                ValidationIssue(
                    "check_failed",
                    "net",
                    "-",
                    f"{check.__name__} could not run on this model: {type(exc).__name__}: {exc}",
                )
            )
    return issues


def validate_net(net: pp.pandapowerNet, source: str) -> None:
    """Raise :class:`FeederValidationError` listing every problem of ``net``.

    Parameters
    ----------
    net : pandapowerNet
        The feeder model.
    source : str
        Name or path of the model, used in the message.
    """
    issues = find_issues(net)
    if issues:
        raise FeederValidationError(source, issues)
