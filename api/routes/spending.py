"""Spending tokens: one spend (`/wallet/{organization_id}/consume`) or a batch
(`/consumptions`), by a service API key, a user with tokens.consume, or an admin.

The hot path: the caller is verified (API keys from a short in-process cache), then one
`ledger_spend` call on the spend pool is the whole transaction. No ORM, no workflow per spend.
"""

import re
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth.spenders import SpenderDep, authorize_spend
from api.deps import OrganizationId, Spending
from api.errors import ApiError, error_body
from api.idempotency import IDEMPOTENCY_HEADER, idempotency_key_openapi
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, ErrorBody
from api.schemas.consumption import (
    IDEMPOTENCY_KEY_PATTERN,
    BatchItemOut,
    BatchOut,
    ConsumeOut,
    ConsumeRequest,
    ConsumptionBatch,
    SpendEntry,
)
from db.spending import SpendContext, SpendOutcome, SpendRequest
from services.wallet.spending import refusal, spend_many, spend_once

router = APIRouter(tags=["spending"], responses=AUTH_ERRORS)
REPLAYED_HEADER = "Idempotent-Replayed"
_ACCEPTABLE_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
SPEND_KEY_OPENAPI = idempotency_key_openapi(max_length=200)

SPEND_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "organization_not_found"},
    409: {
        "model": ErrorBody,
        "description": "insufficient_balance: the spendable balance and the amount asked; "
        "organization_inactive: the organization is deactivated; spend_limit_reached: a hard "
        "spend limit (scope, api_key_id, period, cap, used, resets_at) would be crossed.",
    },
}


@router.post(
    "/wallet/{organization_id}/consume",
    openapi_extra=SPEND_KEY_OPENAPI,
    status_code=201,
    response_model=ConsumeOut,
    summary="Spend tokens",
    description="Requires an API key with the `tokens.consume` scope (`Authorization: Bearer "
    "tbk_...`), or a user with `tokens.consume` on the organization, or an admin. Needs an "
    "`Idempotency-Key` header (at most 200 printable characters, unique per spend within the "
    "organization): a replay with the same key and body answers the first result (with "
    f"`{REPLAYED_HEADER}: true`); the same key with another body is 422 "
    "`idempotency_key_reused`. Lots past their expiry are never drawn; the others "
    "first-to-expire, then oldest. 409 `insufficient_balance` (nothing written) when the "
    "wallet's spendable balance is less than the amount; 409 `organization_inactive` (nothing "
    "written) while the organization is deactivated; 409 `spend_limit_reached` (nothing "
    "written) when the spend would cross a hard spend limit of the organization or of the API "
    "key (the details say which, its cap, what is used and `resets_at`). A replay answers its "
    "first result even once a limit is reached.",
    responses={**SPEND_ERRORS, 400: {"model": ErrorBody, "description": "Idempotency-Key."}},
)
async def consume(
    request: Request,
    spender: SpenderDep,
    spending: Spending,
    organization_id: OrganizationId,
    body: ConsumeRequest,
) -> JSONResponse:
    await authorize_spend(request, spender, (organization_id,))
    wanted = SpendRequest(
        organization_id,
        body.amount,
        _idempotency_key(request),
        body.reason,
        body.reference,
        spender.api_key_id,
    )
    context = _context(request, spender.actor.type, spender.actor.id)
    outcome = await spend_once(spending, wanted, context)
    answer = ConsumeOut(balance=_balance(outcome), entry=_entry(outcome, wanted))
    headers = {REPLAYED_HEADER: "true"} if outcome.status == "replayed" else None
    return JSONResponse(answer.model_dump(mode="json"), status_code=201, headers=headers)


@router.post(
    "/consumptions",
    response_model=BatchOut,
    summary="Spend tokens in a batch",
    description="Requires what the single spend requires (an API key with `tokens.consume`, a "
    "user with `tokens.consume`, or an admin) for every organization in the batch; a caller "
    "refused for any of them gets 403 for the whole batch. "
    "Up to 1,000 spends, each with its own `idempotency_key`, `organization_id`, "
    "`amount`, `reason` and optional `reference`, applied in one transaction and answered item "
    "by item in the order sent: `applied` or `replayed` with the balance and the entry, or "
    "`failed` with the error (`insufficient_balance`, `organization_not_found`, "
    "`organization_inactive`, `idempotency_key_reused`, `spend_limit_reached`). Spend limits "
    "judge the items in the order sent. An item's key is the same key space "
    "as the single spend's Idempotency-Key, so resending a batch replays it.",
)
async def consume_batch(
    request: Request, spender: SpenderDep, spending: Spending, body: ConsumptionBatch
) -> BatchOut:
    await authorize_spend(request, spender, (item.organization_id for item in body.items))
    wanted = [
        SpendRequest(
            i.organization_id,
            i.amount,
            i.idempotency_key,
            i.reason,
            i.reference,
            spender.api_key_id,
        )
        for i in body.items
    ]
    context = _context(request, spender.actor.type, spender.actor.id)
    outcomes = await spend_many(spending, wanted, context)
    items = [_batch_item(n, w, o) for n, (w, o) in enumerate(zip(wanted, outcomes, strict=True))]
    counts = {s: sum(1 for i in items if i.status == s) for s in ("applied", "replayed", "failed")}
    return BatchOut(**counts, items=items)


def _idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or not key.strip():
        raise ApiError(
            400, "idempotency_key_required",
            f"A spend needs an {IDEMPOTENCY_HEADER} header (a unique value per intended spend, "
            "e.g. a UUID).",
        )  # fmt: skip
    if not _ACCEPTABLE_KEY.match(key):
        raise ApiError(
            400, "invalid_idempotency_key",
            f"The {IDEMPOTENCY_HEADER} must be 1 to 200 printable ASCII characters, no spaces.",
        )  # fmt: skip
    return key


def _context(request: Request, actor_type: str, actor_id: str | None) -> SpendContext:
    where = audit_context(request)
    return SpendContext(actor_type, actor_id, where.ip_address, where.request_id)


def _balance(outcome: SpendOutcome) -> Decimal:
    assert outcome.balance is not None
    return outcome.balance


def _entry(outcome: SpendOutcome, wanted: SpendRequest) -> SpendEntry:
    assert outcome.transaction_id is not None and outcome.wallet_id is not None
    assert outcome.created_at is not None
    return SpendEntry(
        transaction_id=outcome.transaction_id, wallet_id=outcome.wallet_id,
        organization_id=wanted.organization_id, amount=outcome.amount, reason=wanted.reason,
        reference=wanted.reference, created_at=outcome.created_at,
    )  # fmt: skip


def _batch_item(index: int, wanted: SpendRequest, outcome: SpendOutcome) -> BatchItemOut:
    base = {"index": index, "idempotency_key": wanted.idempotency_key,
            "organization_id": wanted.organization_id}  # fmt: skip
    if outcome.succeeded:
        status = "applied" if outcome.status == "applied" else "replayed"
        return BatchItemOut(
            **base, status=status, balance=outcome.balance, entry=_entry(outcome, wanted)
        )
    refused = refusal(outcome)
    error = error_body(refused.code, refused.message, refused.details)["error"]
    return BatchItemOut(**base, status="failed", error=error)
