"""Console sessions: sign in (throttled, audited), resume from the cookie's token, sign out.

The browser holds a random token; the database holds only its SHA-256, so the session table
signs nobody in. A session ends when revoked, when unused for the idle timeout, or at its
absolute end, whichever comes first.
"""

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, Outcome, RequestContext, write_audit
from db.console_sessions import (
    failures_since,
    insert_session,
    live_session,
    record_attempt,
    revoke_session,
    touch_session,
    user_by_email,
)
from db.directory import UserRecord
from db.models import ConsoleSession, User
from services.errors import ErrorKind, ServiceError
from services.sign_in.passwords import password_matches
from tokenbill.settings import Settings

TOKEN_BYTES = 32
# Writing last_seen_at on every page would make each read a write; a minute is precise enough.
TOUCH_EVERY_SECONDS = 60


@dataclass(frozen=True)
class SignedIn:
    token: str
    user: UserRecord


def session_id_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttled(message: str, settings: Settings) -> ServiceError:
    return ServiceError(
        ErrorKind.RATE_LIMITED,
        "sign_in_throttled",
        message,
        retry_after_seconds=math.ceil(settings.console_sign_in_window.total_seconds()),
    )


async def _throttle(
    session: AsyncSession, settings: Settings, email: str, context: RequestContext
) -> ServiceError | None:
    """The refusal when the account or the address has had too many failures lately."""
    since = datetime.now(UTC) - settings.console_sign_in_window
    minutes = math.ceil(settings.console_sign_in_window.total_seconds() / 60)
    if await failures_since(session, since, email=email) >= (
        settings.console_sign_in_max_failures_per_account
    ):
        return _throttled(
            "Too many wrong passwords for this account. Sign-in to it is paused; "
            f"try again in {minutes} minutes.",
            settings,
        )
    address = context.ip_address
    if address is not None and await failures_since(session, since, ip=address) >= (
        settings.console_sign_in_max_failures_per_address
    ):
        return _throttled(
            "Too many wrong passwords from your address. Sign-in from it is paused; "
            f"try again in {minutes} minutes.",
            settings,
        )
    return None


async def sign_in(
    session: AsyncSession, settings: Settings, email: str, password: str, context: RequestContext
) -> SignedIn:
    """Check the password and open a session (committed). A throttled attempt is refused with
    RATE_LIMITED before the password is looked at; a wrong email or password with INVALID
    `invalid_credentials`, the same for both. Failures and throttling are audited."""
    email = email.strip()
    refusal = await _throttle(session, settings, email, context)
    if refusal is not None:
        await _audit_attempt(session, None, email, context, "console.sign_in.throttled", "denied")
        await session.commit()
        raise refusal
    user = await user_by_email(session, email)
    matches = password_matches(None if user is None else user.password_hash, password)
    if user is None or not matches or not user.is_active:
        await record_attempt(session, email, context.ip_address, succeeded=False)
        await _audit_attempt(session, user, email, context, "console.sign_in.failed", "failure")
        await session.commit()
        raise ServiceError(
            ErrorKind.INVALID,
            "invalid_credentials",
            "That email and password do not match an active account.",
        )
    await record_attempt(session, email, context.ip_address, succeeded=True)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = datetime.now(UTC)
    await insert_session(
        session,
        ConsoleSession(
            id=session_id_of(token),
            user_id=user.id,
            last_seen_at=now,
            expires_at=now + settings.console_session_absolute_timeout,
            ip_address=context.ip_address,
        ),
    )
    await _audit_attempt(session, user, email, context, "console.sign_in", "success")
    record = UserRecord.of(user)
    await session.commit()
    return SignedIn(token=token, user=record)


async def resume(session: AsyncSession, settings: Settings, token: str) -> UserRecord | None:
    """The active user of a live session, or None (and the session is left as it is)."""
    now = datetime.now(UTC)
    live = await live_session(
        session,
        session_id_of(token),
        now=now,
        idle_since=now - settings.console_session_idle_timeout,
    )
    if live is None:
        return None
    found, user = live
    if not user.is_active:
        return None
    if (now - found.last_seen_at).total_seconds() >= TOUCH_EVERY_SECONDS:
        await touch_session(session, found.id, now)
        await session.commit()
    return UserRecord.of(user)


async def sign_out(session: AsyncSession, token: str, user: UserRecord | None) -> None:
    """Revoke the session server-side (committed): its cookie opens nothing afterwards."""
    await revoke_session(session, session_id_of(token), datetime.now(UTC))
    if user is not None:
        await write_audit(
            session,
            actor=Actor.user(user.id),
            action="console.sign_out",
            organization_id=user.organization_id,
            target_type="user",
            target_id=user.id,
        )
    await session.commit()


async def _audit_attempt(
    session: AsyncSession,
    user: User | None,
    email: str,
    context: RequestContext,
    action: str,
    outcome: Outcome,
) -> None:
    await write_audit(
        session,
        actor=Actor.user(user.id) if user is not None else Actor("user", None),
        action=action,
        organization_id=None if user is None else user.organization_id,
        target_type="user",
        target_id=email,
        outcome=outcome,
        context=context,
    )
