"""Holds: reserve tokens (`POST /wallet/{org}/holds`), then capture all or part of them (the
rest is released) or release them; a hold not settled by its expiry is released by the
expireHolds job within a minute. Creating, capturing and releasing a hold is a spend (an API key
with `tokens.consume`, a user with `tokens.consume`, or an admin); reading is `tokens.view`."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.auth.dependencies import Viewer, authorize_organization
from api.auth.spenders import BEARER_SECURITY_OPENAPI, SpenderDep, authorize_spend
from api.deps import OrganizationId, Session, Spending
from api.errors import error_body
from api.pagination import PageParams
from api.routes.spending import REPLAYED_HEADER, SPEND_KEY_OPENAPI, _context, _idempotency_key
from api.schemas.common import AUTH_ERRORS, ErrorBody, Page
from api.schemas.holds import (
    CaptureBatch,
    CaptureBatchOut,
    CaptureItemOut,
    HoldCapture,
    HoldCommandOut,
    HoldCreate,
    HoldOut,
    HoldStatusName,
)
from db.holds import CaptureRequest, HoldOutcome, HoldRequest
from db.models import TokenHold
from domain.durations import InvalidInterval, parse_interval
from services.errors import invalid
from services.wallet.holds import (
    HoldTerms,
    capture,
    capture_many,
    hold_expiry,
    page_of_holds,
    read_hold,
    refusal,
    release,
    reserve,
)

router = APIRouter(tags=["holds"], responses=AUTH_ERRORS)
HoldPathId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Hold id.")]
HOLD_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "organization_not_found, hold_not_found"},
    409: {
        "model": ErrorBody,
        "description": "insufficient_balance (new hold), hold_not_active (already settled "
        "otherwise), hold_expired (capture at or after its expiry), organization_inactive, "
        "spend_limit_reached (a capture that would cross a hard spend limit of the organization "
        "or of the API key that placed the hold: nothing captured, the hold stays active).",
    },
}


@router.post(
    "/wallet/{organization_id}/holds",
    openapi_extra={**SPEND_KEY_OPENAPI, **BEARER_SECURITY_OPENAPI},
    status_code=201,
    response_model=HoldCommandOut,
    summary="Reserve tokens (a hold)",
    description="Requires what a spend requires (an API key with `tokens.consume`, a user with "
    "`tokens.consume`, or an admin). Needs an `Idempotency-Key` (like a spend's): a replay "
    f"answers the hold as it is now (`{REPLAYED_HEADER}: true`). Moves `amount` from the "
    "wallet's balance to its held tokens, so spends and other holds can no longer take them; "
    "409 `insufficient_balance` (nothing written) when the available amount (balance less "
    "expired tokens) is smaller. Expires at `expires_at`, or `ttl` from now (default "
    "TOKEN_HOLD_DEFAULT_TTL, at most TOKEN_HOLD_MAX_TTL); an expired hold is released within a "
    "minute. Lots are drawn down when it is captured.",
    responses={**HOLD_ERRORS, 400: {"model": ErrorBody, "description": "Idempotency-Key."}},
)
async def create_hold(
    request: Request,
    spender: SpenderDep,
    spending: Spending,
    organization_id: OrganizationId,
    body: HoldCreate,
) -> Response:
    await authorize_spend(request, spender, (organization_id,))
    key = _idempotency_key(request)
    ttl = None
    if body.ttl is not None:
        try:
            interval = parse_interval(body.ttl)
        except InvalidInterval as exc:
            raise invalid("invalid_hold_expiry", str(exc)) from exc
        if interval.months:
            raise invalid("invalid_hold_expiry", "A hold's ttl is in weeks, days or time.")
        ttl = interval.exact
    expires_at, asked = hold_expiry(
        spending.hold_ttls, HoldTerms(body.expires_at, ttl, body.ttl), datetime.now(UTC)
    )
    wanted = HoldRequest(
        organization_id,
        body.amount,
        key,
        expires_at,
        asked,
        body.reason,
        body.reference,
        spender.api_key_id,
    )
    context = _context(request, spender.actor.type, spender.actor.id)
    outcome = await reserve(spending, wanted, context)
    return _command_response(outcome, status_code=201)


@router.post(
    "/wallet/{organization_id}/holds/{hold_id}/capture",
    openapi_extra=BEARER_SECURITY_OPENAPI,
    response_model=HoldCommandOut,
    summary="Capture a hold, all or part",
    description="Requires what a spend requires. Captures `amount` (default: all; at most the "
    "hold's amount) as consumption, drawing the wallet's lots down, and releases the rest, in one "
    "transaction. Idempotent by the hold: the same capture again answers the hold "
    f"(`{REPLAYED_HEADER}: true`); 409 `hold_not_active` when it was released, expired or "
    "captured with another amount, `hold_expired` at or after its expiry.",
    responses=HOLD_ERRORS,
)
async def capture_hold(
    request: Request,
    spender: SpenderDep,
    spending: Spending,
    organization_id: OrganizationId,
    hold_id: HoldPathId,
    body: HoldCapture | None = None,
) -> Response:
    await authorize_spend(request, spender, (organization_id,))
    context = _context(request, spender.actor.type, spender.actor.id)
    amount = body.amount if body is not None else None
    outcome = await capture(spending, organization_id, hold_id, amount, context)
    return _command_response(outcome)


@router.post(
    "/wallet/{organization_id}/holds/{hold_id}/release",
    openapi_extra=BEARER_SECURITY_OPENAPI,
    response_model=HoldCommandOut,
    summary="Release a hold",
    description="Requires what a spend requires. Returns the hold's tokens to the wallet's "
    "balance. Idempotent: a hold already released or expired answers as it is "
    f"(`{REPLAYED_HEADER}: true`); 409 `hold_not_active` when it was captured.",
    responses=HOLD_ERRORS,
)
async def release_hold(
    request: Request,
    spender: SpenderDep,
    spending: Spending,
    organization_id: OrganizationId,
    hold_id: HoldPathId,
) -> Response:
    await authorize_spend(request, spender, (organization_id,))
    context = _context(request, spender.actor.type, spender.actor.id)
    outcome = await release(spending, organization_id, hold_id, context)
    return _command_response(outcome)


@router.post(
    "/holds/captures",
    openapi_extra=BEARER_SECURITY_OPENAPI,
    response_model=CaptureBatchOut,
    summary="Capture holds in a batch",
    description="Requires what a capture requires, for every organization in the batch (403 for "
    "the whole batch otherwise). Up to 1,000 captures (`organization_id`, `hold_id`, optional "
    "`amount`) in one transaction, answered item by item in the order sent: `applied`, "
    "`replayed` or `failed` with the error.",
)
async def capture_batch(
    request: Request, spender: SpenderDep, spending: Spending, body: CaptureBatch
) -> CaptureBatchOut:
    await authorize_spend(request, spender, (item.organization_id for item in body.items))
    wanted = [CaptureRequest(i.organization_id, i.hold_id, i.amount) for i in body.items]
    context = _context(request, spender.actor.type, spender.actor.id)
    outcomes = await capture_many(spending, wanted, context)
    items = [_batch_item(n, w, o) for n, (w, o) in enumerate(zip(wanted, outcomes, strict=True))]
    counts = {s: sum(1 for i in items if i.status == s) for s in ("applied", "replayed", "failed")}
    return CaptureBatchOut(**counts, items=items)


@router.get(
    "/wallet/{organization_id}/holds",
    summary="List an organization's holds",
    description="Requires `tokens.view` on the organization. Newest first; filter by `status`.",
)
async def list_holds(
    request: Request,
    principal: Viewer,
    session: Session,
    organization_id: OrganizationId,
    page: PageParams,
    status: Annotated[HoldStatusName | None, Query()] = None,
) -> Page[HoldOut]:
    await authorize_organization(request, principal, organization_id)
    rows, total = await page_of_holds(
        session, organization_id, status, limit=page.limit, offset=page.offset
    )
    return Page[HoldOut](
        items=[_hold_out(row) for row in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/wallet/{organization_id}/holds/{hold_id}",
    summary="Read a hold",
    description="Requires `tokens.view` on the organization.",
    responses={404: {"model": ErrorBody, "description": "hold_not_found"}},
)
async def get_hold(
    request: Request,
    principal: Viewer,
    session: Session,
    organization_id: OrganizationId,
    hold_id: HoldPathId,
) -> HoldOut:
    await authorize_organization(request, principal, organization_id)
    return _hold_out(await read_hold(session, organization_id, hold_id))


def _hold_out(hold: TokenHold) -> HoldOut:
    return HoldOut(
        hold_id=hold.id, organization_id=hold.organization_id, wallet_id=hold.wallet_id,
        status=hold.status,
        amount=hold.amount, captured_amount=hold.captured_amount,
        released_amount=hold.released_amount, reason=hold.description, reference=hold.reference,
        expires_at=hold.expires_at, created_at=hold.created_at, settled_at=hold.settled_at,
    )  # fmt: skip


def _command_out(outcome: HoldOutcome) -> HoldCommandOut:
    assert outcome.hold_id is not None and outcome.wallet_id is not None
    assert outcome.hold_status is not None and outcome.amount is not None
    assert outcome.captured_amount is not None and outcome.released_amount is not None
    assert outcome.balance is not None and outcome.held is not None
    assert outcome.expires_at is not None and outcome.created_at is not None
    return HoldCommandOut(
        hold_id=outcome.hold_id, organization_id=outcome.organization_id,
        wallet_id=outcome.wallet_id, status=outcome.hold_status, amount=outcome.amount,
        captured_amount=outcome.captured_amount, released_amount=outcome.released_amount,
        reason=outcome.description, reference=outcome.reference, expires_at=outcome.expires_at,
        created_at=outcome.created_at, settled_at=outcome.settled_at, balance=outcome.balance,
        held=outcome.held,
    )  # fmt: skip


def _command_response(outcome: HoldOutcome, status_code: int = 200) -> Response:
    headers = {REPLAYED_HEADER: "true"} if outcome.status == "replayed" else None
    # Serialized by pydantic's core in one step, as a spend's answer is.
    return Response(
        _command_out(outcome).model_dump_json(), status_code=status_code, headers=headers,
        media_type="application/json",
    )  # fmt: skip


def _batch_item(index: int, wanted: CaptureRequest, outcome: HoldOutcome) -> CaptureItemOut:
    base = {"index": index, "organization_id": wanted.organization_id, "hold_id": wanted.hold_id}
    if outcome.succeeded:
        status = "applied" if outcome.status == "applied" else "replayed"
        return CaptureItemOut(**base, status=status, hold=_command_out(outcome))
    refused = refusal(outcome, wanted.amount)
    error = error_body(refused.code, refused.message, refused.details)["error"]
    return CaptureItemOut(**base, status="failed", error=error)
