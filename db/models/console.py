"""Models of the console's sign-in tables (migration 0015): sessions and sign-in attempts."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at_column


class ConsoleSession(Base):
    """A signed-in browser. `id` is the SHA-256 of the cookie's token, never the token itself."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip_address: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_console_sessions_user", "user_id"),)


class SignInAttempt(Base):
    """One password check at the sign-in form, kept for the throttle."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    attempted_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        Index("ix_sign_in_attempts_email", "email", "attempted_at"),
        Index("ix_sign_in_attempts_ip", "ip_address", "attempted_at"),
    )
