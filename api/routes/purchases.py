"""One-time purchases: create (tokens.purchase), list and read (tokens.view)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from api.auth.dependencies import Buyer, Viewer, authorize_organization, deny
from api.deps import ReadPool, Session, SessionMaker, SettingsDep, Workflows
from api.errors import validation_error
from api.idempotency import IDEMPOTENT_ROUTE, idempotent_request, json_answer
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.purchases import (
    PaymentActionOut,
    PurchaseAccepted,
    PurchaseCreate,
    PurchaseOut,
    PurchaseStatusFilter,
)
from services.purchases.commands import PurchaseOrder, place_purchase, too_many_packs
from services.purchases.payment_actions import waiting_payment
from services.purchases.queries import find_purchase_now, list_purchases, settled_purchase_now

router = APIRouter(prefix="/purchases", tags=["purchases"], responses=AUTH_ERRORS)
Reference = Annotated[
    str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="e.g. TKP-0123…")
]
MAX_WAIT_SECONDS = 30


@router.post(
    "",
    openapi_extra=IDEMPOTENT_ROUTE,
    status_code=202,
    response_model=PurchaseAccepted,
    summary="Buy a token package",
    description="Requires `tokens.purchase` on the organization. Needs an `Idempotency-Key` "
    "header: a replay with the same key and body returns the first answer. Rate limited per "
    "organization (429 with Retry-After). Answers 202 at once; poll the purchase (or pass "
    "`wait_seconds`) for the outcome. 503 `workflow_unavailable` when the workflow service "
    "cannot be reached (the purchase is then failed and the key stays free); 503 "
    "`workflow_start_unknown` when it did not confirm the start (the purchase stays pending and "
    "will be completed; a retry with the same key answers 202 for the same purchase).",
    responses={
        409: {
            "description": "A request with this key is still in progress; or "
            "`organization_inactive`: the organization is deactivated."
        },
        429: {"description": "Too many purchases for this organization; see Retry-After."},
    },
)
async def create_purchase(
    request: Request,
    principal: Buyer,
    session: Session,
    settings: SettingsDep,
    temporal: Workflows,
    session_maker: SessionMaker,
    body: PurchaseCreate,
) -> JSONResponse:
    await authorize_organization(request, principal, body.organization_id)
    idempotency = idempotent_request(request, principal, body)
    problem = too_many_packs(settings, body.quantity)
    if problem is not None:
        raise validation_error("body.quantity", problem)
    answer = await place_purchase(
        session, session_maker, settings, temporal, PurchaseOrder(**body.model_dump()),
        idempotency, actor_user_id=principal.id, context=audit_context(request),
    )  # fmt: skip
    return json_answer(answer)


@router.get(
    "",
    summary="List purchases",
    description="Requires `tokens.view`. A user sees only its own organization's purchases "
    "(asking for another is refused and audited); an admin sees all or filters by "
    "`organization_id`. Filters: `status`, `created_from`, `created_to`. Newest first.",
)
async def list_purchase_history(
    request: Request,
    principal: Viewer,
    session: Session,
    page: PageParams,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    status: Annotated[PurchaseStatusFilter | None, Query()] = None,
    created_from: Annotated[AwareDatetime | None, Query()] = None,
    created_to: Annotated[AwareDatetime | None, Query()] = None,
) -> Page[PurchaseOut]:
    if organization_id is not None:
        await authorize_organization(request, principal, organization_id)
    elif not principal.is_admin:
        if principal.organization_id is None:
            await deny(request, principal, "Your user belongs to no organization.")
        organization_id = principal.organization_id
    rows, total = await list_purchases(
        session, organization_id=organization_id, status=status, created_from=created_from,
        created_to=created_to, limit=page.limit, offset=page.offset,
    )  # fmt: skip
    items = [PurchaseOut.model_validate(row, from_attributes=True) for row in rows]
    return Page[PurchaseOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{purchase_reference_id}",
    summary="Read a purchase",
    description="Requires `tokens.view` on the purchase's organization. Status, tokens, unit "
    "price, subtotal, tax, total, invoice number and failure reason. With `wait_seconds` "
    f"(0 to {MAX_WAIT_SECONDS}) the answer waits up to that long for the workflow to finish.",
)
async def get_purchase(
    request: Request,
    principal: Viewer,
    reads: ReadPool,
    session: Session,
    temporal: Workflows,
    purchase_reference_id: Reference,
    wait_seconds: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False)] = 0,
) -> PurchaseOut:
    purchase = await find_purchase_now(reads, purchase_reference_id)
    await authorize_organization(request, principal, purchase.organization_id)
    purchase = await settled_purchase_now(reads, temporal, purchase, wait_seconds)
    answer = PurchaseOut.model_validate(purchase, from_attributes=True)
    if purchase.status == "processing":
        waiting = await waiting_payment(session, purchase_reference_id)
        if waiting is not None:
            answer.payment_action = PaymentActionOut.model_validate(waiting, from_attributes=True)
    return answer
