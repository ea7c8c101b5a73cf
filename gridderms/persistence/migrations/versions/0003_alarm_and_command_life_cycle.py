"""Alarm and command life cycle: alarms get details and an acknowledgement time, commands who
queued them, a device acknowledgement time and an error; look-up indexes for both.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# column types spelled out here, not imported from the models, so this migration never changes
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", JSON_DOCUMENT, nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", TIMESTAMP, nullable=True))
        batch_op.create_index(
            "ix_alarms_feeder_kind_der", ["feeder_id", "kind", "der_id"], unique=False
        )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "requested_by", sa.String(length=200), nullable=False, server_default="system"
            )
        )
        batch_op.add_column(sa.Column("acknowledged_at", TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_commands_feeder_status_der", ["feeder_id", "status", "der_id"], unique=False
        )


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index("ix_commands_feeder_status_der")
        batch_op.drop_column("error")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("requested_by")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_feeder_kind_der")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("details")
