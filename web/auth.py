"""Who is signed in to the console and what they may open: the session cookie names a live
session, the database says the rest (read on every page, so a revocation or a lost permission
takes effect at once). Refusals are audited like the API's (action access.denied)."""

from typing import Annotated, Any

from fastapi import Depends, Request

from db.audit import Actor, write_audit
from services.sign_in.sessions import resume
from web.console_user import ConsoleUser
from web.context import ConsoleSettings, Context, DbSession
from web.cookies import SESSION_COOKIE
from web.errors import ConsoleForbidden, SignInRequired


async def optional_user(
    request: Request, session: DbSession, settings: ConsoleSettings
) -> ConsoleUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    user = await resume(session, settings, token)
    return None if user is None else ConsoleUser(user, token)


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


def require(permission: str) -> Any:
    """A dependency: the signed-in user, holding `permission` (else the audited 403 page)."""

    async def check(
        request: Request,
        session: DbSession,
        context: Context,
        user: Annotated[ConsoleUser, Depends(signed_in_user)],
    ) -> ConsoleUser:
        if not user.has(permission):
            raise await refuse(
                request, session, context, user, f"This page needs the {permission} permission.",
                organization_id=user.user.organization_id, permission=permission,
            )  # fmt: skip
        return user

    return Depends(check)


SignedIn = Annotated[ConsoleUser, Depends(signed_in_user)]
MaybeSignedIn = Annotated[ConsoleUser | None, Depends(optional_user)]
