"""Subscriptions: create and command (tokens.purchase), read and list (tokens.view).

Commands are Temporal updates answered by the workflow itself; each accepted one is audited with
the user who sent it. The token_subscriptions row follows through the workflow's activities.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Buyer, Principal, Viewer, authorize_organization, deny
from api.deps import Session, SettingsDep, Workflows
from api.errors import ApiError
from api.idempotency import IDEMPOTENT_ROUTE, Answer, idempotent_request, respond_once
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.subscriptions import (
    CancelBody,
    ChangePackageBody,
    PaymentMethodBody,
    ResumeBody,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionInvoiceOut,
    SubscriptionOut,
    SubscriptionStatusFilter,
)
from db.models import TokenSubscription
from services.idempotency import forget
from services.subscriptions.commands import (
    CommandAnswer,
    ResumeDeclined,
    SubscriptionCommands,
    offered_terms,
)
from services.subscriptions.creation import (
    NewSubscription,
    SubscriptionOrder,
    record_subscription,
    start_subscription,
)
from services.subscriptions.queries import (
    find_subscription,
    list_subscriptions,
    read_subscription,
    subscription_invoices,
)
from tokenbill.workflow_client import WorkflowClient

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
    context = audit_context(request)
    recorded: list[NewSubscription] = []

    async def record() -> Answer:
        subscription = await record_subscription(
            session,
            settings,
            SubscriptionOrder(
                organization_id=body.organization_id, package_id=body.package_id,
                payment_method=body.payment_method, billing_interval=body.billing_interval,
                start_at=body.start_at, grace_period=body.grace_period,
            ),
            user_id=principal.id,
            context=context,
        )  # fmt: skip
        recorded.append(subscription)
        created = SubscriptionCreated(
            subscription_id=subscription.subscription_id, workflow_id=subscription.workflow_id,
            status="active", billing_interval=subscription.run.billing_interval,
            grace_period=subscription.grace_period, next_billing_date=subscription.run.anchor,
        )  # fmt: skip
        return Answer(201, created.model_dump(mode="json"))

    # The answer is stored and committed with the row, before the start: a retry with the key
    # reaches this subscription whatever happens to the start (a missing workflow is started by
    # processSubscriptionBilling). A replay records nothing and starts nothing.
    response = await respond_once(session, request, principal, body, record)
    if recorded:

        async def forget_answer() -> None:
            await forget(session, idempotent_request(request, principal, body))

        await start_subscription(session, temporal, recorded[0], user_id=principal.id,
                                 context=context, forget_answer=forget_answer)  # fmt: skip
    return response


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
    return Page[SubscriptionOut](
        items=[SubscriptionOut.model_validate(item) for item in items], total=total,
        limit=page.limit, offset=page.offset,
    )  # fmt: skip


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
    return SubscriptionOut.model_validate(await read_subscription(temporal, row))


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
        items=[SubscriptionInvoiceOut.model_validate(item) for item in items], total=total,
        limit=page.limit, offset=page.offset,
    )  # fmt: skip


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
    return await _command(request, principal, session, temporal, subscription_id, body,
                          lambda commands: commands.cancel(body.when))  # fmt: skip


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
    return await _command(request, principal, session, temporal, subscription_id, None,
                          lambda commands: commands.pause())  # fmt: skip


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
    async def resume_or_refuse(commands: SubscriptionCommands) -> CommandAnswer:
        try:
            return await commands.resume(body.payment_method)
        except ResumeDeclined as declined:
            raise ApiError(402, "payment_declined", declined.message) from declined

    return await _command(request, principal, session, temporal, subscription_id, body,
                          resume_or_refuse)  # fmt: skip


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
    terms = await offered_terms(session, body.package_id)
    return await _command(request, principal, session, temporal, subscription_id, body,
                          lambda commands: commands.change_package(terms))  # fmt: skip


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
    method = body.payment_method
    return await _command(request, principal, session, temporal, subscription_id, body,
                          lambda commands: commands.update_payment_method(method))  # fmt: skip


async def _command(
    request: Request,
    principal: Principal,
    session: AsyncSession,
    temporal: WorkflowClient,
    subscription_id: int,
    body: BaseModel | None,
    send: Callable[[SubscriptionCommands], Awaitable[CommandAnswer]],
) -> JSONResponse:
    """Authorize, then send the command once per Idempotency-Key (the service audits it)."""
    row = await _visible(request, principal, session, subscription_id)
    commands = SubscriptionCommands(
        session, temporal, row, user_id=principal.id, context=audit_context(request)
    )

    async def apply() -> Answer:
        answer = await send(commands)
        return Answer(200, answer.model_dump(mode="json"))

    return await respond_once(session, request, principal, body, apply)


async def _visible(
    request: Request, principal: Principal, session: AsyncSession, subscription_id: int
) -> TokenSubscription:
    row = await find_subscription(session, subscription_id)
    await authorize_organization(request, principal, row.organization_id)
    return row
