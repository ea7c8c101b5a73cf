"""Who acts: the roles, the authenticated principal and the service's own actor.

``viewer`` reads; ``operator`` sets overrides and lock-outs, operating modes and approves
schedules; ``adms`` requests dispatches, switches and pushes telemetry; ``admin`` may do
everything. Every service that changes state takes the acting :class:`Principal` (for its audit
row); :mod:`gridderms.service.auth` turns API keys into principals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "operator", "adms", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "adms", "admin")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: key name and role."""

    name: str
    role: Role

    def may(self, allowed: tuple[Role, ...]) -> bool:
        """Whether this principal holds one of ``allowed`` (``admin`` holds every role)."""
        return self.role == "admin" or self.role in allowed


SYSTEM = Principal("system", "admin")
"""Actor of changes the service makes by itself (automatic activation, start-up clean-up)."""
