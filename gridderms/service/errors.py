"""Errors of the domain services; the API maps each class to one HTTP status.

``str(error)`` is the user-facing message and always names the id involved.
"""

from __future__ import annotations

from gridderms.persistence.errors import RecordNotFoundError

NotFoundError = RecordNotFoundError
"""Unknown id (HTTP 404); the message names the kind and the id."""


class ServiceError(Exception):
    """Base class of the errors below."""


class ConflictError(ServiceError):
    """The request conflicts with the current state (HTTP 409): a topology change in progress,
    a stale ``expected_version``, a duplicate name, a schedule that is no longer pending."""


class InvalidRequestError(ServiceError):
    """Well-formed but not applicable to this feeder (HTTP 400): a bus it does not have, a
    horizon outside its profiles, an infeasible parameter combination."""


class OutsideCapabilityError(InvalidRequestError):
    """A set-point outside the DER's capability (HTTP 422): its active-power range or its
    reactive capability at that power; the message names the limit."""
