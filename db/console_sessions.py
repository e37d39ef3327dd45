"""The SQL of the console's sign-in: sessions (open, find, touch, revoke), sign-in attempts
(record, count recent failures) and users' password hashes."""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ConsoleSession, SignInAttempt, User


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this email, compared case-insensitively."""
    found = await session.execute(select(User).where(func.lower(User.email) == email.lower()))
    return found.scalar_one_or_none()


async def store_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )


async def insert_session(session: AsyncSession, row: ConsoleSession) -> None:
    session.add(row)
    await session.flush()


async def live_session(
    session: AsyncSession, session_id: str, *, now: datetime, idle_since: datetime
) -> tuple[ConsoleSession, User] | None:
    """The session with its user (one read) if it is neither revoked, past its absolute end, nor
    idle since `idle_since`."""
    found = await session.execute(
        select(ConsoleSession, User)
        .join(User, User.id == ConsoleSession.user_id)
        .where(
            ConsoleSession.id == session_id,
            ConsoleSession.revoked_at.is_(None),
            ConsoleSession.expires_at > now,
            ConsoleSession.last_seen_at > idle_since,
        )
    )
    row = found.one_or_none()
    return None if row is None else (row.ConsoleSession, row.User)


async def touch_session(session: AsyncSession, session_id: str, now: datetime) -> None:
    await session.execute(
        update(ConsoleSession).where(ConsoleSession.id == session_id).values(last_seen_at=now)
    )


async def revoke_session(session: AsyncSession, session_id: str, now: datetime) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user_sessions(session: AsyncSession, user_id: int, now: datetime) -> None:
    """End every session of the user (a new password signs the old browsers out)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def record_attempt(
    session: AsyncSession, email: str, ip_address: str | None, *, succeeded: bool
) -> None:
    session.add(SignInAttempt(email=email.lower(), ip_address=ip_address, succeeded=succeeded))
    await session.flush()


async def failures_since(
    session: AsyncSession, since: datetime, *, email: str | None = None, ip: str | None = None
) -> int:
    """Failed attempts since `since` for the account (`email`) or from the address (`ip`)."""
    query = (
        select(func.count())
        .select_from(SignInAttempt)
        .where(SignInAttempt.succeeded.is_(False), SignInAttempt.attempted_at > since)
    )
    if email is not None:
        query = query.where(SignInAttempt.email == email.lower())
    if ip is not None:
        query = query.where(SignInAttempt.ip_address == ip)
    return int((await session.execute(query)).scalar_one())
