"""Payment disputes, for admins: list them, and decide one (release or forfeit its frozen
tokens). Idempotent, audited, finance notified."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Admin
from api.deps import Session
from api.idempotency import IDEMPOTENT_ROUTE, Answer, respond_once
from api.openapi_errors import JSON_ERROR
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.payments_provider import DisputeDecisionIn, DisputeOut
from services.payments_provider import disputes

router = APIRouter(prefix="/admin/disputes", tags=["admin"], responses=AUTH_ERRORS)
DisputeId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Dispute id.")]


@router.get(
    "",
    summary="List payment disputes",
    description="Requires the admin role. Newest first; filter by `status` (`frozen` awaits a "
    "decision).",
)
async def list_disputes(
    principal: Admin,
    session: Session,
    page: PageParams,
    status: Annotated[Literal["frozen", "released", "forfeited"] | None, Query()] = None,
) -> Page[DisputeOut]:
    records, total = await disputes.list_disputes(
        session, status=status, limit=page.limit, offset=page.offset
    )
    return Page[DisputeOut](
        items=[DisputeOut.model_validate(r) for r in records],
        total=total, limit=page.limit, offset=page.offset,
    )  # fmt: skip


@router.post(
    "/{dispute_id}/decision",
    openapi_extra=IDEMPOTENT_ROUTE,
    summary="Decide a payment dispute",
    responses={
        404: {"description": "dispute_not_found", "content": JSON_ERROR},
        409: {"description": "dispute_already_decided", "content": JSON_ERROR},
    },
    description="Requires the admin role and an `Idempotency-Key`. `release` gives the frozen "
    "tokens back to the wallet (into the purchase's own lot); `forfeit` books them to the "
    "dispute-loss account. One decision per dispute (409 `dispute_already_decided`). Audited; "
    "finance is notified.",
)
async def decide_dispute(
    request: Request,
    principal: Admin,
    session: Session,
    dispute_id: DisputeId,
    body: DisputeDecisionIn,
) -> JSONResponse:
    async def work() -> Answer:
        record = await disputes.decide(
            session, dispute_id, body.decision, body.note,
            user_id=principal.id, context=audit_context(request),
        )  # fmt: skip
        return Answer(200, DisputeOut.model_validate(record).model_dump(mode="json"))

    return await respond_once(session, request, principal, body, work)
