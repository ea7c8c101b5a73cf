"""Feeder location and time zone set by the user: latitude, longitude, altitude, IANA time
zone and where the location came from, on the feeders table. NULL means not set by the user:
the feeder uses what its model, its built-in region or the default gives.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("feeders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latitude_deg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude_deg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("altitude_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("tz", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("location_source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("feeders", schema=None) as batch_op:
        batch_op.drop_column("location_source")
        batch_op.drop_column("tz")
        batch_op.drop_column("altitude_m")
        batch_op.drop_column("longitude_deg")
        batch_op.drop_column("latitude_deg")
