"""Initial schema: feeders and their topology history, DERs, groups, telemetry, dispatch runs,
schedules and their points, envelopes, commands, alarms, audit log and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# column types spelled out here, not imported from the models, so this migration never changes
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=300), nullable=False),
        sa.Column("before", JSON_DOCUMENT, nullable=True),
        sa.Column("after", JSON_DOCUMENT, nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_log_target", ["target_type", "target_id"], unique=False)

    op.create_table(
        "feeders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operating_mode", sa.String(length=20), nullable=False),
        sa.Column("switch_closed", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeders")),
        sa.UniqueConstraint("name", name=op.f("uq_feeders_name")),
    )
    op.create_table(
        "alarms",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("der_id", sa.String(length=200), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", TIMESTAMP, nullable=False),
        sa.Column("cleared_at", TIMESTAMP, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_alarms_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarms_feeder_id"), ["feeder_id"], unique=False)

    op.create_table(
        "der_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("by", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=True),
        sa.Column("members", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_der_groups_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_der_groups")),
        sa.UniqueConstraint("feeder_id", "name", name=op.f("uq_der_groups_feeder_id_name")),
    )
    op.create_table(
        "ders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("der_id", sa.String(length=200), nullable=False),
        sa.Column("bus", sa.Integer(), nullable=False),
        sa.Column("der_type", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("record", JSON_DOCUMENT, nullable=False),
        sa.Column("override_p_mw", sa.Float(), nullable=True),
        sa.Column("override_q_mvar", sa.Float(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_ders_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ders")),
        sa.UniqueConstraint("feeder_id", "der_id", name=op.f("uq_ders_feeder_id_der_id")),
    )
    with op.batch_alter_table("ders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ders_bus"), ["bus"], unique=False)
        batch_op.create_index(batch_op.f("ix_ders_der_id"), ["der_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ders_der_type"), ["der_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_ders_feeder_id"), ["feeder_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ders_status"), ["status"], unique=False)

    op.create_table(
        "dispatch_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("feeder_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("request", JSON_DOCUMENT, nullable=False),
        sa.Column("summary", JSON_DOCUMENT, nullable=True),
        sa.Column("diagnosis", JSON_DOCUMENT, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_dispatch_runs_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_dispatch_runs_run_id")),
    )
    with op.batch_alter_table("dispatch_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispatch_runs_feeder_id"), ["feeder_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dispatch_runs_status"), ["status"], unique=False)

    op.create_table(
        "feeder_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", JSON_DOCUMENT, nullable=False),
        sa.Column("switch_closed", JSON_DOCUMENT, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_feeder_versions_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeder_versions")),
        sa.UniqueConstraint(
            "feeder_id", "version", name=op.f("uq_feeder_versions_feeder_id_version")
        ),
    )
    op.create_table(
        "telemetry",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("der_id", sa.String(length=200), nullable=True),
        sa.Column("measured_at", TIMESTAMP, nullable=False),
        sa.Column("p_mw", sa.Float(), nullable=True),
        sa.Column("q_mvar", sa.Float(), nullable=True),
        sa.Column("vm_pu", sa.Float(), nullable=True),
        sa.Column("soc_percent", sa.Float(), nullable=True),
        sa.Column("quality", sa.String(length=20), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_telemetry_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry")),
    )
    with op.batch_alter_table("telemetry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_telemetry_feeder_der_time", ["feeder_id", "der_id", "measured_at"], unique=False
        )
        batch_op.create_index(
            "ix_telemetry_feeder_time", ["feeder_id", "measured_at"], unique=False
        )

    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("start", TIMESTAMP, nullable=False),
        sa.Column("step_minutes", sa.Integer(), nullable=False),
        sa.Column("n_periods", sa.Integer(), nullable=False),
        sa.Column("ac_feasible", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("activated_at", TIMESTAMP, nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_schedules_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["dispatch_runs.id"],
            name=op.f("fk_schedules_run_id_dispatch_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_feeder_id"), ["feeder_id"], unique=False)
        batch_op.create_index(
            "ux_schedules_one_active_per_feeder",
            ["feeder_id"],
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    op.create_table(
        "commands",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("feeder_id", sa.Integer(), nullable=False),
        sa.Column("der_id", sa.String(length=200), nullable=True),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["feeders.id"],
            name=op.f("fk_commands_feeder_id_feeders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_commands_schedule_id_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_commands_feeder_id"), ["feeder_id"], unique=False)

    op.create_table(
        "envelopes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("der_id", sa.String(length=200), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("p_min_mw", sa.Float(), nullable=False),
        sa.Column("p_max_mw", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_envelopes_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envelopes")),
        sa.UniqueConstraint(
            "schedule_id", "der_id", "period", name=op.f("uq_envelopes_schedule_id_der_id_period")
        ),
    )
    op.create_table(
        "schedule_points",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("der_id", sa.String(length=200), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("p_mw", sa.Float(), nullable=False),
        sa.Column("q_mvar", sa.Float(), nullable=False),
        sa.Column("p_available_mw", sa.Float(), nullable=False),
        sa.Column("curtailed_mw", sa.Float(), nullable=False),
        sa.Column("mode", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_points_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_points")),
        sa.UniqueConstraint(
            "schedule_id",
            "der_id",
            "period",
            name=op.f("uq_schedule_points_schedule_id_der_id_period"),
        ),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("schedule_points")
    op.drop_table("envelopes")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commands_feeder_id"))

    op.drop_table("commands")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_schedules_one_active_per_feeder",
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_schedules_feeder_id"))

    op.drop_table("schedules")
    with op.batch_alter_table("telemetry", schema=None) as batch_op:
        batch_op.drop_index("ix_telemetry_feeder_time")
        batch_op.drop_index("ix_telemetry_feeder_der_time")

    op.drop_table("telemetry")
    op.drop_table("feeder_versions")
    with op.batch_alter_table("dispatch_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispatch_runs_status"))
        batch_op.drop_index(batch_op.f("ix_dispatch_runs_feeder_id"))

    op.drop_table("dispatch_runs")
    with op.batch_alter_table("ders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ders_status"))
        batch_op.drop_index(batch_op.f("ix_ders_feeder_id"))
        batch_op.drop_index(batch_op.f("ix_ders_der_type"))
        batch_op.drop_index(batch_op.f("ix_ders_der_id"))
        batch_op.drop_index(batch_op.f("ix_ders_bus"))

    op.drop_table("ders")
    op.drop_table("der_groups")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarms_feeder_id"))

    op.drop_table("alarms")
    op.drop_table("feeders")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_target")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("api_keys")
