"""Subscriptions: create and command (tokens.purchase), read and list (tokens.view).

Commands are Temporal updates answered by the workflow itself; each accepted one is audited with
the user who sent it. The token_subscriptions row follows through the workflow's activities.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Buyer, Principal, Viewer, authorize_organization, deny
from api.deps import Session, SettingsDep, Workflows
from api.errors import ApiError
from api.idempotency import (
    IDEMPOTENT_ROUTE,
    Answer,
    claim,
    forget,
    idempotent_request,
    respond_once,
    store_response,
)
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.subscriptions import (
    CancelBody,
    ChangePackageBody,
    CommandAnswer,
    PaymentMethodBody,
    ResumeBody,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionInvoiceOut,
    SubscriptionOut,
    SubscriptionStatusFilter,
)
from api.subscribing import (
    cancel_unstarted_subscription,
    package_terms,
    record_subscription,
    start_subscription_workflow,
)
from api.subscription_queries import (
    find_subscription,
    list_subscriptions,
    live_state,
    subscription_invoices,
    subscription_out,
)
from db.audit import Actor, write_audit
from db.models import TokenSubscription
from services.purchases.catalog import active_package
from services.subscriptions.workflow_commands import send_command
from services.workflow_client import StartOutcome
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_types import (
    CancelRequest,
    CancelResult,
    ChangePackageRequest,
    ChangePackageResult,
    CommandResult,
    PaymentMethodRequest,
    ResumeRequest,
)

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"], responses=AUTH_ERRORS)
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "The subscription's state refuses the command (the reason says why)."},
    503: {"description": "The workflow service is unavailable; nothing was changed."},
}


@router.post(
    "",
    openapi_extra=IDEMPOTENT_ROUTE,
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe to a token package",
    description="Requires `tokens.purchase` on the organization and an `Idempotency-Key`. The "
    "first period is charged at `start_at` (default now), then every `billing_interval`. An "
    "interval shorter than TOKEN_SUBSCRIPTION_MINIMUM_INTERVAL answers 422 "
    "`billing_interval_too_short`. 503 `workflow_unavailable` when the workflow service cannot "
    "be reached (the subscription is then cancelled and the key stays free); 503 "
    "`workflow_start_unknown` when it did not confirm the start (the subscription stays active "
    "and will bill; a retry with the same key answers 201 for the same subscription). 409 "
    "`organization_inactive` while the organization is deactivated; a deactivated "
    "organization's renewals wait, uncharged, until it is reactivated.",
    responses={409: {"description": "organization_inactive: the organization is deactivated."}},
)
async def create_subscription(
    request: Request,
    principal: Buyer,
    session: Session,
    settings: SettingsDep,
    temporal: Workflows,
    body: SubscriptionCreate,
) -> JSONResponse:
    await authorize_organization(request, principal, body.organization_id)
    idempotency = idempotent_request(request, principal, body)
    replay = await claim(session, idempotency)
    if replay is not None:
        return replay.response()
    context = audit_context(request)
    subscription = await record_subscription(
        session, settings=settings, principal=principal, body=body, context=context
    )
    created = SubscriptionCreated(
        subscription_id=subscription.subscription_id, workflow_id=subscription.workflow_id,
        status="active", billing_interval=subscription.run.billing_interval,
        grace_period=subscription.grace_period, next_billing_date=subscription.run.anchor,
    ).model_dump(mode="json")  # fmt: skip
    # The answer is stored with the row: a retry with the key reaches this subscription whatever
    # happens to the start (a missing workflow is started by processSubscriptionBilling).
    await store_response(session, idempotency, 201, created)
    await session.commit()
    outcome = await start_subscription_workflow(temporal, settings, subscription)
    if outcome is StartOutcome.NOT_STARTED and await cancel_unstarted_subscription(
        session, subscription, principal=principal, context=context
    ):
        await forget(session, idempotency)
        await session.commit()
        raise ApiError(
            503,
            "workflow_unavailable",
            "The workflow service is unavailable, so the subscription was not started and "
            "nothing was charged. Retry later.",
            {"subscription_id": subscription.subscription_id},
        )
    if outcome is StartOutcome.UNKNOWN:
        raise ApiError(
            503,
            "workflow_start_unknown",
            f"The subscription {subscription.subscription_id} was recorded, but the workflow "
            "service did not confirm that its workflow started. It will run (and bill) once the "
            "service answers: retry with the same Idempotency-Key to follow it, never with a "
            "new one.",
            {"subscription_id": subscription.subscription_id},
        )
    return JSONResponse(created, status_code=201)


@router.get(
    "",
    summary="List subscriptions",
    description="Requires `tokens.view`. A user sees its own organization's subscriptions; an "
    "admin sees all or filters by `organization_id`. Filter by `status`. Newest first. Status "
    "here is the mirror row's; read one subscription for the live state.",
)
async def list_all(
    request: Request,
    principal: Viewer,
    session: Session,
    page: PageParams,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    status: Annotated[SubscriptionStatusFilter | None, Query()] = None,
) -> Page[SubscriptionOut]:
    if organization_id is not None:
        await authorize_organization(request, principal, organization_id)
    elif not principal.is_admin:
        if principal.organization_id is None:
            await deny(request, principal, "Your user belongs to no organization.")
        organization_id = principal.organization_id
    items, total = await list_subscriptions(
        session, organization_id=organization_id, status=status, limit=page.limit,
        offset=page.offset,
    )  # fmt: skip
    return Page[SubscriptionOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{subscription_id}",
    summary="Read a subscription",
    description="Requires `tokens.view` on its organization. The row merged with a live query "
    "of the workflow: status, current period, next billing date, dunning attempt and last "
    "payment error (`live` says whether the workflow answered).",
)
async def get_subscription(
    request: Request,
    principal: Viewer,
    session: Session,
    temporal: Workflows,
    subscription_id: SubscriptionId,
) -> SubscriptionOut:
    row = await _visible(request, principal, session, subscription_id)
    live = None if row.status == "cancelled" else await live_state(temporal, subscription_id)
    return subscription_out(row, live)


@router.get(
    "/{subscription_id}/invoices",
    summary="A subscription's invoices",
    description="Requires `tokens.view` on its organization. One invoice per billed period, "
    "newest first: paid, open while past due, void when the period was never paid.",
)
async def get_invoices(
    request: Request,
    principal: Viewer,
    session: Session,
    page: PageParams,
    subscription_id: SubscriptionId,
) -> Page[SubscriptionInvoiceOut]:
    await _visible(request, principal, session, subscription_id)
    items, total = await subscription_invoices(
        session, subscription_id, limit=page.limit, offset=page.offset
    )
    return Page[SubscriptionInvoiceOut](
        items=items, total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/{subscription_id}/cancel",
    openapi_extra=IDEMPOTENT_ROUTE,
    summary="Cancel a subscription",
    description="Requires `tokens.purchase`. `when`: `period_end` (default; an active "
    "subscription runs to the end of its paid period) or `immediately`. A past-due, paused or "
    "suspended subscription ends at once; its open invoice is voided.",
    responses=COMMAND_ERRORS,
)
async def cancel(
    request: Request,
    principal: Buyer,
    session: Session,
    temporal: Workflows,
    subscription_id: SubscriptionId,
    body: CancelBody,
) -> JSONResponse:
    async def run() -> CommandAnswer:
        result = await send_command(temporal, subscription_id, SubscriptionWorkflow.cancel,
                                   CancelRequest(when=body.when), CancelResult)  # fmt: skip
        when = "at the end of the paid period" if result.cancel_at_period_end else "now"
        return CommandAnswer(
            subscription_id=subscription_id, status=result.status,
            message=f"The subscription is cancelled {when}.", effective_at=result.effective_at,
        )  # fmt: skip

    return await _command(request, principal, session, subscription_id, body, "cancel", run)


@router.post(
    "/{subscription_id}/pause",
    openapi_extra=IDEMPOTENT_ROUTE,
    summary="Pause a subscription",
    description="Requires `tokens.purchase`. An active subscription stops charging; billing "
    "dates that pass while paused are skipped.",
    responses=COMMAND_ERRORS,
)
async def pause(
    request: Request,
    principal: Buyer,
    session: Session,
    temporal: Workflows,
    subscription_id: SubscriptionId,
) -> JSONResponse:
    async def run() -> CommandAnswer:
        result = await send_command(
            temporal, subscription_id, SubscriptionWorkflow.pause, None, CommandResult
        )
        return _answer(subscription_id, result)

    return await _command(request, principal, session, subscription_id, None, "pause", run)


@router.post(
    "/{subscription_id}/resume",
    openapi_extra=IDEMPOTENT_ROUTE,
    summary="Resume a subscription",
    description="Requires `tokens.purchase`. A paused subscription bills again from its next "
    "billing date. A suspended one is charged now for a fresh period (optionally with a new "
    "`payment_method`); a declined charge answers 402 `payment_declined` and it stays suspended.",
    responses={**COMMAND_ERRORS, 402: {"description": "The resume charge was declined."}},
)
async def resume(
    request: Request,
    principal: Buyer,
    session: Session,
    temporal: Workflows,
    subscription_id: SubscriptionId,
    body: ResumeBody,
) -> JSONResponse:
    async def run() -> CommandAnswer:
        result = await send_command(temporal, subscription_id, SubscriptionWorkflow.resume,
                                   ResumeRequest(payment_method=body.payment_method),
                                   CommandResult)  # fmt: skip
        if result.status == "suspended":
            raise ApiError(402, "payment_declined", result.message)
        return _answer(subscription_id, result)

    return await _command(request, principal, session, subscription_id, body, "resume", run)


@router.post(
    "/{subscription_id}/package",
    openapi_extra=IDEMPOTENT_ROUTE,
    summary="Change a subscription's package",
    description="Requires `tokens.purchase`. Takes effect from the next period; the current "
    "one keeps its package. The answer says from when.",
    responses=COMMAND_ERRORS,
)
async def change_package(
    request: Request,
    principal: Buyer,
    session: Session,
    temporal: Workflows,
    subscription_id: SubscriptionId,
    body: ChangePackageBody,
) -> JSONResponse:
    terms = package_terms(await active_package(session, body.package_id))

    async def run() -> CommandAnswer:
        result = await send_command(temporal, subscription_id, SubscriptionWorkflow.change_package,
                                   ChangePackageRequest(terms=terms),
                                   ChangePackageResult)  # fmt: skip
        return CommandAnswer(
            subscription_id=subscription_id, status="accepted", message=result.message,
            effective_at=result.effective_from, package_id=result.package_id,
        )  # fmt: skip

    return await _command(request, principal, session, subscription_id, body, "package", run)


@router.post(
    "/{subscription_id}/payment-method",
    openapi_extra=IDEMPOTENT_ROUTE,
    summary="Update a subscription's payment method",
    description="Requires `tokens.purchase`. A past-due subscription retries its open invoice "
    "with the new method at once; otherwise the next charge uses it.",
    responses=COMMAND_ERRORS,
)
async def update_payment_method(
    request: Request,
    principal: Buyer,
    session: Session,
    temporal: Workflows,
    subscription_id: SubscriptionId,
    body: PaymentMethodBody,
) -> JSONResponse:
    async def run() -> CommandAnswer:
        result = await send_command(
            temporal,
            subscription_id,
            SubscriptionWorkflow.update_payment_method,
            PaymentMethodRequest(payment_method=body.payment_method),
            CommandResult,
        )
        return _answer(subscription_id, result)

    return await _command(request, principal, session, subscription_id, body, "payment_method", run)


def _answer(subscription_id: int, result: CommandResult) -> CommandAnswer:
    return CommandAnswer(
        subscription_id=subscription_id, status=result.status, message=result.message,
        next_billing_date=result.next_billing_date,
    )  # fmt: skip


async def _command(
    request: Request,
    principal: Principal,
    session: AsyncSession,
    subscription_id: int,
    body: BaseModel | None,
    action: str,
    run: Any,
) -> JSONResponse:
    """Authorize, claim the Idempotency-Key, send the update, audit and store the answer."""
    row = await _visible(request, principal, session, subscription_id)

    async def apply() -> Answer:
        answer: CommandAnswer = await run()
        payload = answer.model_dump(mode="json")
        await write_audit(
            session,
            actor=Actor.user(principal.id),
            action=f"subscription.{action}",
            organization_id=row.organization_id,
            target_type="token_subscription",
            target_id=subscription_id,
            after={"request": None if body is None else body.model_dump(mode="json"), **payload},
            context=audit_context(request),
        )
        return Answer(200, payload)

    return await respond_once(session, request, principal, body, apply)


async def _visible(
    request: Request, principal: Principal, session: AsyncSession, subscription_id: int
) -> TokenSubscription:
    row = await find_subscription(session, subscription_id)
    if row is None:
        raise ApiError(
            404, "subscription_not_found", f"Subscription {subscription_id} does not exist."
        )
    await authorize_organization(request, principal, row.organization_id)
    return row
