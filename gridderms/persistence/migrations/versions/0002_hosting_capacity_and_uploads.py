"""Hosting-capacity runs and their per-bus results; uploaded feeder files.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# column types spelled out here, not imported from the models, so this migration never changes
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "feeder_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_feeder_files_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeder_files")),
        sa.UniqueConstraint("feeder_id", name=op.f("uq_feeder_files_feeder_id")),
    )
    op.create_table(
        "hosting_capacity_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("feeder_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("request", JSON_DOCUMENT, nullable=False),
        sa.Column("summary", JSON_DOCUMENT, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_hosting_capacity_runs_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosting_capacity_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_hosting_capacity_runs_run_id")),
    )
    with op.batch_alter_table("hosting_capacity_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hosting_capacity_runs_feeder_id"), ["feeder_id"], unique=False
        )
    op.create_table(
        "hosting_capacity_results",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("bus", sa.Integer(), nullable=False),
        sa.Column("feeder", sa.String(length=200), nullable=True),
        sa.Column("hc_gen_mw", sa.Float(), nullable=True),
        sa.Column("binding_gen", sa.String(length=200), nullable=True),
        sa.Column("hc_load_mw", sa.Float(), nullable=True),
        sa.Column("binding_load", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["hosting_capacity_runs.id"],
            name=op.f("fk_hosting_capacity_results_run_pk_hosting_capacity_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosting_capacity_results")),
        sa.UniqueConstraint("run_pk", "bus", name=op.f("uq_hosting_capacity_results_run_pk_bus")),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("hosting_capacity_results")
    with op.batch_alter_table("hosting_capacity_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hosting_capacity_runs_feeder_id"))
    op.drop_table("hosting_capacity_runs")
    op.drop_table("feeder_files")
