"""Who is signed in to the console and what they may open: the session cookie names a live
session, the database says the rest. Refusals are audited like the API's (action access.denied).

The session's user is remembered for PRINCIPAL_CACHE_TTL (5 s) in the app's principal cache, by
the SHA-256 of the cookie's token, as the API remembers a bearer token's user: a page is then one
read fewer. When a change takes effect: a sign-out in this process at once (the caches are
emptied), any write of the `users` table in this process (deactivation, permission change,
password change, which also revokes the user's sessions) at once (the principal cache empties on
it); a sign-out, revocation or user change made in another process within the time to live. An
unknown, revoked, expired or inactive session is never remembered; last_seen_at is touched on the
reads that do happen (at most every TOUCH_EVERY_SECONDS, far longer than the time to live)."""

from typing import Annotated, Any

from fastapi import Depends, Request

from api.auth.principal_cache import Key, forget_every_principal
from api.request_context import audit_context
from api.state import app_state
from db.audit import Actor, write_audit
from db.directory import UserRecord
from services.sign_in.sessions import resume, session_id_of
from web.console_user import ConsoleUser
from web.context import Context, DbSession
from web.cookies import SESSION_COOKIE
from web.errors import ConsoleForbidden, SignInRequired


def console_session_key(token: str) -> Key:
    """The principal cache's key of a console session (never the token itself)."""
    return ("console_session", session_id_of(token))


def forget_console_session() -> None:
    """After a sign-out: empty this process's caches and bump their generation, so a read of
    the session that began before the revocation is not remembered either (sign-outs are rare;
    the next page of every session reads once more)."""
    forget_every_principal()


async def optional_user(request: Request) -> ConsoleUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    state = app_state(request)
    settings = state.settings

    async def read() -> UserRecord | None:
        async with state.session_maker() as session:
            return await resume(session, settings, token)

    user = await state.principals.resolve(console_session_key(token), read)
    return None if user is None or not user.is_active else ConsoleUser(user, token)


async def signed_in_user(
    user: Annotated[ConsoleUser | None, Depends(optional_user)],
) -> ConsoleUser:
    if user is None:
        raise SignInRequired()
    return user


async def refuse(
    request: Request,
    session: DbSession,
    context: Context,
    user: ConsoleUser,
    message: str,
    *,
    organization_id: int | None,
    permission: str | None = None,
) -> ConsoleForbidden:
    """Audit the refusal (committed) and give the exception the 403 page is made from."""
    await write_audit(
        session,
        actor=Actor.user(user.user.id),
        action="access.denied",
        organization_id=organization_id,
        target_type="page",
        target_id=f"{request.method} {request.url.path}",
        after={"reason": message, "permission": permission},
        outcome="denied",
        context=context,
    )
    await session.commit()
    return ConsoleForbidden(message, user)


async def refuse_apart(
    request: Request,
    user: ConsoleUser,
    message: str,
    *,
    organization_id: int | None,
    permission: str | None = None,
) -> ConsoleForbidden:
    """`refuse` in a session of its own: a page that reads nothing through a session (or has not
    yet) opens none on the way to its answer, only when it refuses."""
    async with app_state(request).session_maker() as session:
        return await refuse(
            request, session, audit_context(request), user, message,
            organization_id=organization_id, permission=permission,
        )  # fmt: skip


def require(permission: str) -> Any:
    """A dependency: the signed-in user, holding `permission` (else the audited 403 page)."""

    async def check(
        request: Request, user: Annotated[ConsoleUser, Depends(signed_in_user)]
    ) -> ConsoleUser:
        if not user.has(permission):
            raise await refuse_apart(
                request, user, f"This page needs the {permission} permission.",
                organization_id=user.user.organization_id, permission=permission,
            )  # fmt: skip
        return user

    return Depends(check)


SignedIn = Annotated[ConsoleUser, Depends(signed_in_user)]
MaybeSignedIn = Annotated[ConsoleUser | None, Depends(optional_user)]
