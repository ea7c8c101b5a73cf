"""DER state versions and idempotent telemetry.

- ``ders.state_version``: incremented by every change of a DER's status, override or record,
  so that a dispatch run can tell, when it activates, whether a DER it read changed while it
  was solving (``dispatch_runs.der_state`` keeps the versions the run read).
- ``telemetry.client_id``: an optional id the sender gives a measurement; a measurement's
  identity is (feeder, DER, time stamp, client id), unique, so a retried batch is not stored
  twice. Duplicates already stored are removed (the first one received is kept).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("ders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state_version", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("dispatch_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("der_state", JSON_DOCUMENT, nullable=True))
    op.execute(
        "DELETE FROM telemetry WHERE der_id IS NOT NULL AND id NOT IN ("
        "SELECT MIN(id) FROM telemetry WHERE der_id IS NOT NULL "
        "GROUP BY feeder_id, der_id, measured_at)"
    )
    with op.batch_alter_table("telemetry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("client_id", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.create_index(
            "uq_telemetry_identity",
            ["feeder_id", "der_id", "measured_at", "client_id"],
            unique=True,
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("telemetry", schema=None) as batch_op:
        batch_op.drop_index("uq_telemetry_identity")
        batch_op.drop_column("client_id")
    with op.batch_alter_table("dispatch_runs", schema=None) as batch_op:
        batch_op.drop_column("der_state")
    with op.batch_alter_table("ders", schema=None) as batch_op:
        batch_op.drop_column("state_version")
