"""Who is calling and what they may do: the bearer token names a user, the database says the rest.

The token is tokenbill's own (HS256, JWT_SECRET, its subject a user id) or, when
IDENTITY_PROVIDER_JWKS_URL is set, the identity provider's (api/auth/identity_provider.py), naming
the user by email or by linked subject. When the provider's keys cannot be had the answer is 503
(identity_provider_unavailable), not 401: the token may well be valid, and the client should retry
rather than discard it.

The user a token names is remembered for PRINCIPAL_CACHE_TTL (api/auth/principal_cache.py): a
deactivation, grant or revocation made through this process takes effect on its next call, one
made elsewhere within that time. The token itself is verified on every call. Every refusal for
lack of permission is written to the audit log (outcome denied).
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
from api.auth.principal_cache import Key, by_claim, by_id
from api.errors import ApiError
from api.request_context import audit_context
from api.state import app_state, get_session_maker
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
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    return await resolve_principal(request, credentials)


async def resolve_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The active user the bearer token names: the token verified now, the user remembered
    (principal_cache) or else read in a session of its own; 401 otherwise."""
    if credentials is None:
        raise _unauthenticated("Send a bearer token: Authorization: Bearer <token>.")
    state = app_state(request)
    token = credentials.credentials
    if state.identity_provider is not None and is_identity_provider_token(token):
        identity = await _identity(state.identity_provider, token)
        key = by_claim(identity.claim, identity.value)
    else:
        identity, key = None, by_id(_user_id(state.settings, token))

    async def read() -> UserRecord | None:
        async with state.session_maker() as session:
            return await _read_user(session, identity, key)

    user = await state.principals.resolve(key, read)
    if user is None or not user.is_active:
        raise _unauthenticated("The bearer token's user does not exist or is inactive.")
    return Principal(user)


def _user_id(settings: Settings, token: str) -> int:
    try:
        return user_id_from_token(settings, token)
    except InvalidToken as exc:
        raise _unauthenticated("The bearer token is invalid or expired.") from exc


async def _identity(identity_provider: IdentityProvider, token: str) -> ExternalIdentity:
    try:
        return await identity_provider.identify(token)
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


async def _read_user(
    session: AsyncSession, identity: ExternalIdentity | None, key: Key
) -> UserRecord | None:
    if identity is not None:
        if identity.claim == "email":
            return await find_user_by_email(session, identity.value)
        return await find_user_by_external_subject(session, identity.value)
    user_id = int(key[1])
    user = await session.get(User, user_id) if 1 <= user_id <= MAX_ROW_ID else None
    return None if user is None else UserRecord.of(user)


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
