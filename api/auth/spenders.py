"""Who may spend tokens: a service API key with the tokens.consume scope, a user with the
tokens.consume permission, or an admin.

One header carries either credential: `Authorization: Bearer tbk_...` is an API key, any other
bearer token is a user's JWT. A key may be bound to one organization; a user spends only for its
own organization unless it is an admin. Every refusal is written to the audit log.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, NoReturn

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from api.auth.dependencies import bearer_scheme, resolve_principal, route_label
from api.errors import ApiError
from api.request_context import audit_context
from api.state import get_session_maker, get_spending
from db.api_keys import looks_like_api_key
from db.audit import Actor, write_audit
from db.directory import CONSUME


@dataclass(frozen=True)
class Spender:
    """The caller of a spend route; `organization_id` None means any organization."""

    actor: Actor
    organization_id: int | None
    allowed: bool
    api_key_id: int | None = None

    def may_spend_for(self, organization_id: int) -> bool:
        return self.organization_id is None or self.organization_id == organization_id


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


async def current_spender(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Spender:
    if credentials is None:
        raise _unauthenticated(
            "Send a bearer token or API key: Authorization: Bearer <token or tbk_ key>."
        )
    secret = credentials.credentials
    if looks_like_api_key(secret):
        identity = await get_spending(request).api_keys.verify(secret)
        if identity is None:
            raise _unauthenticated("The API key is unknown or revoked.")
        spender = Spender(
            Actor("service", f"api_key:{identity.id}"),
            identity.organization_id,
            CONSUME in identity.scopes,
            identity.id,
        )
        if not spender.allowed:
            await deny_spend(request, spender, f"This API key lacks the {CONSUME} scope.")
        return spender
    principal = await resolve_principal(request, credentials)
    spender = Spender(
        Actor.user(principal.id),
        None if principal.is_admin else _own_organization(principal.organization_id),
        principal.has(CONSUME),
    )
    if not spender.allowed:
        await deny_spend(request, spender, f"This needs the {CONSUME} permission.")
    return spender


def _own_organization(organization_id: int | None) -> int:
    """A user of no organization may spend for none: 0 matches no organization id."""
    return 0 if organization_id is None else organization_id


async def authorize_spend(
    request: Request, spender: Spender, organization_ids: Iterable[int]
) -> None:
    """Refuse (403, audited) unless the spender may spend for every one of the organizations."""
    refused = sorted({o for o in organization_ids if not spender.may_spend_for(o)})
    if refused:
        await deny_spend(
            request,
            spender,
            "You may only spend for your own organization.",
            organization_id=refused[0],
            details={"organization_ids": refused},
        )


async def deny_spend(
    request: Request,
    spender: Spender,
    message: str,
    *,
    organization_id: int | None = None,
    details: dict[str, list[int]] | None = None,
) -> NoReturn:
    async with get_session_maker(request)() as session, session.begin():
        await write_audit(
            session, actor=spender.actor, action="access.denied",
            organization_id=organization_id or spender.organization_id or None,
            target_type="route", target_id=route_label(request),
            after={"reason": message, "permission": CONSUME, **(details or {})},
            outcome="denied", context=audit_context(request),
        )  # fmt: skip
    raise ApiError(403, "forbidden", message, {"permission": CONSUME, **(details or {})})


SpenderDep = Annotated[Spender, Depends(current_spender)]
