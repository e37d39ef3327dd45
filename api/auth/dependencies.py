"""Who is calling and what they may do: the bearer token names a user, the database says the rest.

The token is tokenbill's own (HS256, JWT_SECRET, its subject a user id) or, when
IDENTITY_PROVIDER_JWKS_URL is set, the identity provider's (api/auth/identity_provider.py), naming
the user by email or by linked subject. When the provider's keys cannot be had the answer is 503
(identity_provider_unavailable), not 401: the token may well be valid, and the client should retry
rather than discard it.

The user row is read on every request, so a deactivation, grant or revocation takes effect on the
next call. Every refusal for lack of permission is written to the audit log (outcome denied).
"""

from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.identity_provider import (
    ExternalIdentity,
    ForeignTokenRefused,
    IdentityProvider,
    is_identity_provider_token,
)
from api.auth.jwks_cache import KeysUnavailable
from api.auth.jwt_tokens import InvalidToken, user_id_from_token
from api.errors import ApiError
from api.request_context import audit_context
from api.state import get_identity_provider, get_session, get_session_maker, get_settings
from db.audit import Actor, write_audit
from db.directory import (
    CONFIGURE,
    PURCHASE,
    VIEW,
    UserRecord,
    find_user_by_email,
    find_user_by_external_subject,
)
from db.models import User
from services.access import holds, sees_organization
from tokenbill.settings import Settings

MAX_ROW_ID = 2**31 - 1
IDENTITY_PROVIDER_RETRY_AFTER_SECONDS = 5

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A JWT whose subject is a user id (`tokenbill token EMAIL` prints one), or, when "
    "IDENTITY_PROVIDER_JWKS_URL is set, a token of the host system's identity provider.",
)


@dataclass(frozen=True)
class Principal:
    """The authenticated user, as the database describes it right now."""

    user: UserRecord

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def organization_id(self) -> int | None:
        return self.user.organization_id

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    def has(self, permission: str) -> bool:
        return holds(self.user, permission)

    def sees_organization(self, organization_id: int) -> bool:
        return sees_organization(self.user, organization_id)


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    session: Annotated[AsyncSession, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
    identity_provider: Annotated[IdentityProvider | None, Depends(get_identity_provider)],
) -> Principal:
    if credentials is None:
        raise _unauthenticated("Send a bearer token: Authorization: Bearer <token>.")
    token = credentials.credentials
    if identity_provider is not None and is_identity_provider_token(token):
        user = await _identity_provider_user(session, identity_provider, token)
    else:
        user = await _own_token_user(session, settings, token)
    if user is None or not user.is_active:
        raise _unauthenticated("The bearer token's user does not exist or is inactive.")
    return Principal(user)


async def _own_token_user(
    session: AsyncSession, settings: Settings, token: str
) -> UserRecord | None:
    try:
        user_id = user_id_from_token(settings, token)
    except InvalidToken as exc:
        raise _unauthenticated("The bearer token is invalid or expired.") from exc
    user = await session.get(User, user_id) if 1 <= user_id <= MAX_ROW_ID else None
    return None if user is None else UserRecord.of(user)


async def _identity_provider_user(
    session: AsyncSession, identity_provider: IdentityProvider, token: str
) -> UserRecord | None:
    try:
        identity = await identity_provider.identify(token)
    except ForeignTokenRefused as exc:
        raise _unauthenticated("The bearer token is invalid or expired.") from exc
    except KeysUnavailable as exc:
        raise ApiError(
            503,
            "identity_provider_unavailable",
            "The identity provider's keys cannot be fetched to check the bearer token; "
            "try again shortly.",
            headers={"Retry-After": str(IDENTITY_PROVIDER_RETRY_AFTER_SECONDS)},
        ) from exc
    return await _user_of(session, identity)


async def _user_of(session: AsyncSession, identity: ExternalIdentity) -> UserRecord | None:
    if identity.claim == "email":
        return await find_user_by_email(session, identity.value)
    return await find_user_by_external_subject(session, identity.value)


def route_label(request: Request) -> str:
    """`METHOD /path/{template}`: the route, not the concrete path, for audit rows and scopes."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


async def deny(
    request: Request,
    principal: Principal,
    message: str,
    *,
    organization_id: int | None = None,
    permission: str | None = None,
) -> NoReturn:
    """Record the refusal in the audit log (in its own transaction, so it stays) and answer 403."""
    async with get_session_maker(request)() as session, session.begin():
        await write_audit(
            session,
            actor=Actor.user(principal.id),
            action="access.denied",
            organization_id=organization_id,
            target_type="route",
            target_id=route_label(request),
            after={"reason": message, "permission": permission},
            outcome="denied",
            context=audit_context(request),
        )
    details = {"permission": permission} if permission else {}
    raise ApiError(403, "forbidden", message, details)


def require_permission(permission: str) -> Any:
    async def check(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if not principal.has(permission):
            await deny(
                request,
                principal,
                f"This needs the {permission} permission.",
                organization_id=principal.organization_id,
                permission=permission,
            )
        return principal

    return Depends(check)


async def require_admin(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    if not principal.is_admin:
        await deny(
            request,
            principal,
            "This needs the admin role.",
            organization_id=principal.organization_id,
            permission="admin",
        )
    return principal


async def authorize_organization(
    request: Request, principal: Principal, organization_id: int
) -> None:
    """A user acts only on its own organization; an admin on any."""
    if not principal.sees_organization(organization_id):
        await deny(
            request,
            principal,
            "You may only act on your own organization.",
            organization_id=organization_id,
        )


Viewer = Annotated[Principal, require_permission(VIEW)]
Buyer = Annotated[Principal, require_permission(PURCHASE)]
Configurer = Annotated[Principal, require_permission(CONFIGURE)]
Admin = Annotated[Principal, Depends(require_admin)]
