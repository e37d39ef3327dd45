"""The finance tables (migration 0008): the stored monthly reports."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at_column


class MonthlyReport(Base):
    """One month's report: `building` while generateMonthlyReports fills it, then `complete`."""

    __tablename__ = "monthly_reports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="building", nullable=False)
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MonthlyReportOrganization(Base):
    """One organization's figures in a monthly report (decimals stored as strings)."""

    __tablename__ = "monthly_report_organizations"

    report_id: Mapped[int] = mapped_column(ForeignKey("monthly_reports.id"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("organizations.id"), primary_key=True
    )
    organization_name: Mapped[str] = mapped_column(String(200), nullable=False)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
