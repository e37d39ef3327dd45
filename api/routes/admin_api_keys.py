"""Service API keys, for admins: create (the secret is shown once), list, revoke. Audited.

A revoked key stops working within API_KEY_CACHE_TTL (5 seconds by default) on every API process.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Admin
from api.deps import Session
from api.idempotency import IDEMPOTENT_ROUTE, Answer, respond_once
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, UNKNOWN_ORGANIZATION, Page
from api.schemas.spend_settings import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, api_key_reach
from db.audit import Actor
from services.administration import api_keys
from services.administration.api_keys import NewApiKey

router = APIRouter(prefix="/admin/api-keys", tags=["admin"], responses=AUTH_ERRORS)
ApiKeyId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="API key id.")]


@router.post(
    "",
    openapi_extra=IDEMPOTENT_ROUTE,
    responses=UNKNOWN_ORGANIZATION,
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create a service API key",
    description="Requires the admin role. Needs an `Idempotency-Key` header. The answer holds "
    "the key (`secret`, `tbk_...`) once: only its hash is kept, so a replay answers the same key "
    "with `secret` null. Send it as `Authorization: Bearer tbk_...`. A key is bound to the "
    "one `organization_id`; a key that spends for every organization needs "
    "`all_organizations: true` instead (422 `organization_required` without either, or with "
    "both), and the answer's `all_organizations` and `reach` say which it is. Audited.",
)
async def create_api_key(
    request: Request, principal: Admin, session: Session, body: ApiKeyCreate
) -> JSONResponse:
    async def work() -> Answer:
        new = NewApiKey(
            name=body.name, scopes=tuple(body.scopes), organization_id=body.organization_id,
            all_organizations=body.all_organizations,
        )  # fmt: skip
        record, secret = await api_keys.create_api_key(
            session, new, Actor.user(principal.id), audit_context(request)
        )
        kept = ApiKeyCreated(
            **ApiKeyOut.of(record).model_dump(), secret=None, reach=api_key_reach(record)
        ).model_dump(mode="json")
        return Answer(201, kept, shown_once={"secret": secret})

    return await respond_once(session, request, principal, body, work)


@router.get(
    "",
    summary="List service API keys",
    description="Requires the admin role. Filter by `organization_id`; revoked keys are listed "
    "unless `include_revoked=false`. Secrets are never shown.",
)
async def list_api_keys(
    principal: Admin,
    session: Session,
    page: PageParams,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    include_revoked: bool = True,
) -> Page[ApiKeyOut]:
    records, total = await api_keys.list_api_keys(
        session, organization_id=organization_id, include_revoked=include_revoked,
        limit=page.limit, offset=page.offset,
    )  # fmt: skip
    return Page[ApiKeyOut](
        items=[ApiKeyOut.of(r) for r in records], total=total, limit=page.limit,
        offset=page.offset,
    )  # fmt: skip


@router.post(
    "/{api_key_id}/revoke",
    summary="Revoke a service API key",
    description="Requires the admin role. Revoking a revoked key changes nothing. The key stops "
    "working within API_KEY_CACHE_TTL (5 seconds by default). Audited.",
)
async def revoke_api_key(
    request: Request, principal: Admin, session: Session, api_key_id: ApiKeyId
) -> ApiKeyOut:
    record = await api_keys.revoke_api_key(
        session, api_key_id, Actor.user(principal.id), audit_context(request)
    )
    await session.commit()
    return ApiKeyOut.of(record)
