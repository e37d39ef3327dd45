"""finance reports, audit retention and partitions (issue 5)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 00:45:00

- monthly_reports and monthly_report_organizations: generateMonthlyReports' stored reports.
- The application role `tokenbill_app` (NOLOGIN): the application's sessions `SET ROLE` to it
  (db/session.py). It may read and write every table but may not UPDATE, DELETE or TRUNCATE the
  audit log; the owner (the login that runs migrations) keeps those rights for retention.
- token_audit_logs becomes a table partitioned by month on created_at, with a DEFAULT partition
  so an insert never fails; `audit_log_ensure_partition(month)` creates a month's partition
  (moving any rows the default partition holds for it) and takes every right on it from
  tokenbill_app, so the partitions cannot be changed directly either.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tokenbill_app"
PARTITIONS_AHEAD = 3

ENSURE_PARTITION = f"""
CREATE FUNCTION audit_log_ensure_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_start timestamptz := date_trunc('month', p_month)::timestamp AT TIME ZONE 'UTC';
  v_end timestamptz := (date_trunc('month', p_month) + interval '1 month')::timestamp
                       AT TIME ZONE 'UTC';
  v_name text := 'token_audit_logs_y' || to_char(p_month, 'YYYY') || 'm' || to_char(p_month, 'MM');
BEGIN
  IF to_regclass(v_name) IS NOT NULL THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM token_audit_logs_default
             WHERE created_at >= v_start AND created_at < v_end) THEN
    -- Rows for this month went to the default partition: move them into the new one.
    ALTER TABLE token_audit_logs DETACH PARTITION token_audit_logs_default;
    EXECUTE format('CREATE TABLE %I PARTITION OF token_audit_logs FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_start, v_end);
    EXECUTE format('INSERT INTO %I SELECT * FROM token_audit_logs_default '
                   'WHERE created_at >= %L AND created_at < %L', v_name, v_start, v_end);
    DELETE FROM token_audit_logs_default WHERE created_at >= v_start AND created_at < v_end;
    ALTER TABLE token_audit_logs ATTACH PARTITION token_audit_logs_default DEFAULT;
  ELSE
    EXECUTE format('CREATE TABLE %I PARTITION OF token_audit_logs FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_start, v_end);
  END IF;
  EXECUTE format('REVOKE ALL ON %I FROM {APP_ROLE}', v_name);
  RETURN true;
END $$
"""

AUDIT_COLUMNS = (
    "id, actor_type, actor_id, organization_id, action, outcome, target_type, target_id, "
    "before, after, ip_address, request_id, created_at"
)


def _create_role_and_grants() -> None:
    op.execute(
        f"""DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN;
          END IF;
        END $$"""
    )
    # A non-superuser owner needs the membership to SET ROLE; for a superuser it is harmless.
    op.execute(
        f"""DO $$ BEGIN
          IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
            EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
          END IF;
        END $$"""
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {APP_ROLE}")
    # Tables that later migrations create get the same rights.
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE}"
    )
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON alembic_version FROM {APP_ROLE}")


def _partition_audit_log() -> None:
    op.execute("ALTER TABLE token_audit_logs RENAME TO token_audit_logs_unpartitioned")
    op.execute("ALTER INDEX idx_audit_logs_action RENAME TO idx_audit_logs_action_old")
    op.execute("ALTER INDEX idx_audit_logs_org_created RENAME TO idx_audit_logs_org_created_old")
    op.execute(
        "ALTER TABLE token_audit_logs_unpartitioned "
        "RENAME CONSTRAINT token_audit_logs_pkey TO token_audit_logs_unpartitioned_pkey"
    )
    op.execute(
        """CREATE TABLE token_audit_logs (
          id bigint NOT NULL DEFAULT nextval('token_audit_logs_id_seq'),
          actor_type varchar(16) NOT NULL,
          actor_id varchar(64),
          organization_id integer,
          action varchar(64) NOT NULL,
          outcome varchar(16) NOT NULL DEFAULT 'success',
          target_type varchar(64),
          target_id varchar(128),
          before jsonb,
          after jsonb,
          ip_address varchar(64),
          request_id varchar(64),
          created_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT token_audit_logs_pkey PRIMARY KEY (id, created_at)
        ) PARTITION BY RANGE (created_at)"""
    )
    op.execute("ALTER SEQUENCE token_audit_logs_id_seq OWNED BY token_audit_logs.id")
    op.execute("CREATE INDEX idx_audit_logs_action ON token_audit_logs (action)")
    op.execute(
        "CREATE INDEX idx_audit_logs_org_created ON token_audit_logs "
        "(organization_id, created_at DESC)"
    )
    op.execute("CREATE INDEX idx_audit_logs_created ON token_audit_logs (created_at DESC)")
    op.execute(
        "CREATE INDEX idx_audit_logs_actor ON token_audit_logs (actor_type, actor_id, created_at)"
    )
    op.execute("CREATE TABLE token_audit_logs_default PARTITION OF token_audit_logs DEFAULT")
    op.execute(ENSURE_PARTITION)
    op.execute("REVOKE EXECUTE ON FUNCTION audit_log_ensure_partition(date) FROM PUBLIC")
    op.execute(f"REVOKE EXECUTE ON FUNCTION audit_log_ensure_partition(date) FROM {APP_ROLE}")
    # Every month that holds rows, then this month and the next few.
    op.execute(
        f"""SELECT audit_log_ensure_partition(month::date) FROM generate_series(
          date_trunc('month', coalesce((SELECT min(created_at) FROM token_audit_logs_unpartitioned),
                                       now()) AT TIME ZONE 'UTC'),
          date_trunc('month', now() AT TIME ZONE 'UTC') + interval '{PARTITIONS_AHEAD} months',
          interval '1 month') AS month"""
    )
    op.execute(
        f"INSERT INTO token_audit_logs ({AUDIT_COLUMNS}) "
        f"SELECT {AUDIT_COLUMNS} FROM token_audit_logs_unpartitioned"
    )
    op.execute("DROP TABLE token_audit_logs_unpartitioned")
    op.execute(f"GRANT SELECT, INSERT ON token_audit_logs TO {APP_ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON token_audit_logs FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON token_audit_logs_default FROM {APP_ROLE}")


def _create_report_tables() -> None:
    op.create_table(
        "monthly_reports",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("month", sa.Date(), nullable=False, unique=True),
        sa.Column("status", sa.String(16), server_default="building", nullable=False),
        sa.Column("workflow_id", sa.String(255)),
        sa.Column("totals", postgresql.JSONB(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('building', 'complete')", name="ck_monthly_report_status"),
        sa.CheckConstraint("extract(day FROM month) = 1", name="ck_monthly_report_first_day"),
    )
    op.create_table(
        "monthly_report_organizations",
        sa.Column(
            "report_id", sa.BigInteger(), sa.ForeignKey("monthly_reports.id"), primary_key=True
        ),
        sa.Column(
            "organization_id", sa.Integer(), sa.ForeignKey("organizations.id"), primary_key=True
        ),
        sa.Column("organization_name", sa.String(200), nullable=False),
        sa.Column("figures", postgresql.JSONB(), nullable=False),
    )


def upgrade() -> None:
    _create_report_tables()
    _create_role_and_grants()
    _partition_audit_log()


def downgrade() -> None:
    op.execute(
        """CREATE TABLE token_audit_logs_unpartitioned (LIKE token_audit_logs INCLUDING DEFAULTS)"""
    )
    op.execute(
        f"INSERT INTO token_audit_logs_unpartitioned ({AUDIT_COLUMNS}) "
        f"SELECT {AUDIT_COLUMNS} FROM token_audit_logs"
    )
    op.execute("ALTER SEQUENCE token_audit_logs_id_seq OWNED BY token_audit_logs_unpartitioned.id")
    op.execute("DROP TABLE token_audit_logs CASCADE")
    op.execute("DROP FUNCTION audit_log_ensure_partition(date)")
    op.execute("ALTER TABLE token_audit_logs_unpartitioned RENAME TO token_audit_logs")
    op.execute("ALTER TABLE token_audit_logs ADD CONSTRAINT token_audit_logs_pkey PRIMARY KEY (id)")
    op.execute("CREATE INDEX idx_audit_logs_action ON token_audit_logs (action)")
    op.execute(
        "CREATE INDEX idx_audit_logs_org_created ON token_audit_logs "
        "(organization_id, created_at DESC)"
    )
    op.drop_table("monthly_report_organizations")
    op.drop_table("monthly_reports")
    # The role is cluster-wide (other databases may use it): only this database's rights go.
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
