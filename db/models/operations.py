"""The operations tables (migration 0007): job runs and reconciliation results."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import TOKENS, Base, created_at_column


class JobRun(Base):
    """One run of a scheduled job (one workflow id, across continue-as-new) and its counts."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64), nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="running", nullable=False)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seen: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    changed: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    failed: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), nullable=False
    )
    error: Mapped[str | None] = mapped_column(Text)


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="running", nullable=False)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    wallets_checked: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    transactions_checked: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    mismatch_count: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)


class ReconciliationMismatch(Base):
    """A disagreement found by reconciliation: recorded and reported, never corrected here."""

    __tablename__ = "reconciliation_mismatches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("organization_token_wallets.id"))
    organization_id: Mapped[int | None] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    expected: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    actual: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
