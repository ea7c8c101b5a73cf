"""The audit trail in the service: the row of a change made by a principal (who, in which
role, did what to which target, with the state before and after), and the trail as the API
reads it (pages by keyset, exports; see :mod:`gridderms.persistence.audit`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from gridderms.persistence.audit import AuditFilter, add_audit, audit_page, iter_audit
from gridderms.persistence.models import AuditRow

if TYPE_CHECKING:  # the principals audit their own key changes through audit()
    from gridderms.service.principals import Principal


def audit(
    session: Session,
    actor: Principal,
    action: str,
    target: tuple[str, str],
    before: Any = None,
    after: Any = None,
) -> AuditRow:
    """Append the audit row of ``actor``'s ``action`` on ``target = (type, id)`` (committed
    with the caller's transaction)."""
    target_type, target_id = target
    return add_audit(
        session,
        actor=actor.name,
        role=actor.role,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )


def page(
    session: Session, filters: AuditFilter, *, limit: int, newest_first: bool
) -> list[AuditRow]:
    """Up to ``limit`` rows of the trail matching ``filters``, newest or oldest first."""
    return audit_page(session, filters, limit=limit, newest_first=newest_first)


def export(factory: sessionmaker[Session], filters: AuditFilter) -> Iterator[AuditRow]:
    """Every row matching ``filters`` when the export starts, oldest first, read in batches
    each in its own short session."""
    return iter_audit(factory, filters)
