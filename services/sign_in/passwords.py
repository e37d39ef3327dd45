"""Password hashes: argon2id through argon2-cffi, and setting a user's password."""

from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext, write_audit
from db.console_sessions import revoke_user_sessions, store_password_hash, user_by_email
from db.directory import UserRecord
from services.errors import invalid, not_found

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
# Checked when the email names nobody, so an unknown account costs the same time as a known one.
_DECOY_HASH = _hasher.hash("tokenbill decoy password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether the password fits the hash; a missing hash spends the same time and says no."""
    try:
        return _hasher.verify(password_hash or _DECOY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise invalid(
            "weak_password",
            f"A password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
        )


async def set_password(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> UserRecord:
    """Store a new password hash for the user, end its console sessions, and audit it (the
    caller commits)."""
    check_new_password(password)
    user = await user_by_email(session, email)
    if user is None:
        raise not_found("user_not_found", f"No user has the email {email}.")
    await store_password_hash(session, user.id, hash_password(password))
    await revoke_user_sessions(session, user.id, datetime.now(UTC))
    await write_audit(
        session,
        actor=actor,
        action="user.password_set",
        organization_id=user.organization_id,
        target_type="user",
        target_id=user.id,
        context=context,
    )
    return UserRecord.of(user)
