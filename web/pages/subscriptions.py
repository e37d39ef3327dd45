"""Subscriptions (`/tokens/subscriptions`, SubscriptionManagementPage in the original): the list,
the create form with its confirm step, and one subscription's detail with its live status (htmx
polls it) and invoices. Reads need tokens.view, creating tokens.purchase, as in the API; every
read and the create call services/subscriptions as api/routes/subscriptions.py does."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import RequestContext
from db.directory import PURCHASE, VIEW
from db.models import TokenSubscription
from services.administration.packages import list_packages
from services.errors import ErrorKind, ServiceError
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
from web.auth import refuse, require
from web.console_user import ConsoleUser
from web.context import ConsoleSettings, Context, DbSession, WorkflowsDep
from web.csrf import check_csrf
from web.idempotent_forms import new_key, submit_once
from web.subscription_forms import new_subscription
from web.templates import render

router = APIRouter()
MAX_ROW_ID = 2**31 - 1
PAGE_SIZE = 25
STATUSES = ("active", "past_due", "paused", "suspended", "cancelled")
STATUS_CODES = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
}
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
OrganizationChoice = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
Viewer = Annotated[ConsoleUser, require(VIEW)]
Buyer = Annotated[ConsoleUser, require(PURCHASE)]


async def visible_subscription(
    request: Request,
    session: AsyncSession,
    context: RequestContext,
    user: ConsoleUser,
    subscription_id: int,
) -> TokenSubscription:
    """The subscription's row, if the user sees its organization (else the audited 403 page);
    NOT_FOUND when there is none."""
    row = await find_subscription(session, subscription_id)
    if not user.sees_organization(row.organization_id):
        raise await refuse(
            request, session, context, user,
            "You may only see your own organization's subscriptions.",
            organization_id=row.organization_id,
        )  # fmt: skip
    return row


async def package_names(session: AsyncSession) -> dict[int, str]:
    """Every package's name by id (a subscription may keep a package no longer offered)."""
    rows, _ = await list_packages(session, include_inactive=True, limit=500, offset=0)
    return {row.id: row.name for row in rows}


def missing(request: Request, user: ConsoleUser, error: ServiceError) -> Response:
    return render(
        request, "subscription_missing.html", user, {"message": error.message}, status_code=404
    )


async def _organization_for(
    request: Request,
    session: DbSession,
    context: Context,
    user: ConsoleUser,
    organization_id: int | None,
) -> int | None:
    """The organization the page is about: a user's own, an admin's choice (None: all)."""
    if organization_id is not None:
        if not user.sees_organization(organization_id):
            raise await refuse(
                request, session, context, user,
                "You may only see your own organization's subscriptions.",
                organization_id=organization_id,
            )  # fmt: skip
        return organization_id
    if user.is_admin:
        return None
    if user.user.organization_id is None:
        raise await refuse(
            request, session, context, user, "Your user belongs to no organization.",
            organization_id=None,
        )  # fmt: skip
    return user.user.organization_id


async def _list_page(
    request: Request,
    session: DbSession,
    user: ConsoleUser,
    *,
    organization_id: int | None,
    status: str | None,
    offset: int,
    chosen: int | None,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    items, total = await list_subscriptions(
        session, organization_id=organization_id, status=status, limit=PAGE_SIZE, offset=offset
    )
    offered, _ = await list_packages(session, include_inactive=False, limit=100, offset=0)
    return render(
        request, "subscriptions.html", user,
        {
            "items": items, "total": total, "offset": offset, "page_size": PAGE_SIZE,
            "status": status, "statuses": STATUSES, "organization_id": chosen,
            "packages": offered, "names": await package_names(session),
            "form": form or {}, "error": error, "may_buy": user.has(PURCHASE),
        },
        status_code=status_code,
    )  # fmt: skip


@router.get("/tokens/subscriptions")
async def subscriptions_page(
    request: Request,
    session: DbSession,
    context: Context,
    user: Viewer,
    organization_id: OrganizationChoice = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> Response:
    chosen = await _organization_for(request, session, context, user, organization_id)
    return await _list_page(
        request, session, user, organization_id=chosen,
        status=status if status in STATUSES else None, offset=offset, chosen=organization_id,
    )  # fmt: skip


@router.get("/tokens/subscriptions/new")
async def confirm_new(
    request: Request,
    session: DbSession,
    context: Context,
    user: Buyer,
    organization_id: OrganizationChoice = None,
    package_id: Annotated[str | None, Query(max_length=12)] = None,
    payment_method: Annotated[str | None, Query(max_length=64)] = None,
    billing_interval: Annotated[str | None, Query(max_length=32)] = None,
    start_at: Annotated[str | None, Query(max_length=40)] = None,
    grace_period: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The confirm step: the order as it will be sent, with a fresh idempotency key."""
    form = {
        "organization_id": organization_id, "package_id": package_id,
        "payment_method": payment_method, "billing_interval": billing_interval,
        "start_at": start_at, "grace_period": grace_period,
    }  # fmt: skip
    owner = organization_id if user.is_admin else user.user.organization_id
    try:
        order = new_subscription(owner, package_id, payment_method, billing_interval,
                                 start_at, grace_period)  # fmt: skip
    except ServiceError as error:
        return await _list_page(
            request, session, user, organization_id=owner, status=None, offset=0,
            chosen=organization_id, form=form, error=error.message, status_code=422,
        )  # fmt: skip
    offered, _ = await list_packages(session, include_inactive=False, limit=100, offset=0)
    package = next((p for p in offered if p.id == order.package_id), None)
    return render(
        request, "subscription_confirm_new.html", user,
        {"order": order, "package": package, "key": new_key()},
    )  # fmt: skip


@router.post("/tokens/subscriptions", dependencies=[Depends(check_csrf)])
async def create(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    workflows: WorkflowsDep,
    context: Context,
    user: Buyer,
    idempotency_key: Annotated[str, Form(max_length=255)],
    organization_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
    package_id: Annotated[str, Form(max_length=12)],
    payment_method: Annotated[str, Form(max_length=64)],
    billing_interval: Annotated[str, Form(max_length=32)],
    start_at: Annotated[str, Form(max_length=40)] = "",
    grace_period: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Record the subscription and start its workflow, as the API's create does (the answer is
    stored and committed with the row, before the start)."""
    if not user.sees_organization(organization_id):
        raise await refuse(
            request, session, context, user,
            "You may only subscribe for your own organization.", organization_id=organization_id,
        )  # fmt: skip
    recorded: list[NewSubscription] = []
    try:
        order = new_subscription(organization_id, package_id, payment_method, billing_interval,
                                 start_at, grace_period)  # fmt: skip

        async def record() -> dict[str, Any]:
            subscription = await record_subscription(
                session, settings,
                SubscriptionOrder(
                    organization_id=order.organization_id, package_id=order.package_id,
                    payment_method=order.payment_method, billing_interval=order.billing_interval,
                    start_at=order.start_at, grace_period=order.grace_period,
                ),
                user_id=user.user.id, context=context,
            )  # fmt: skip
            recorded.append(subscription)
            return {"subscription_id": subscription.subscription_id}

        submitted = await submit_once(session, request, user, idempotency_key, order, record)
        if recorded:

            async def forget_answer() -> None:
                await submitted.forget(session)

            await start_subscription(session, workflows, recorded[0], user_id=user.user.id,
                                     context=context, forget_answer=forget_answer)  # fmt: skip
    except ServiceError as error:
        await session.rollback()
        return await _list_page(
            request, session, user, organization_id=organization_id, status=None, offset=0,
            chosen=organization_id if user.is_admin else None,
            form={"organization_id": organization_id, "package_id": package_id,
                  "payment_method": payment_method, "billing_interval": billing_interval,
                  "start_at": start_at, "grace_period": grace_period},
            error=error.message, status_code=STATUS_CODES[error.kind],
        )  # fmt: skip
    subscription_id = submitted.answer["subscription_id"]
    return RedirectResponse(f"/tokens/subscriptions/{subscription_id}?done=created", 303)


@router.get("/tokens/subscriptions/{subscription_id}")
async def detail_page(
    request: Request,
    session: DbSession,
    workflows: WorkflowsDep,
    context: Context,
    user: Viewer,
    subscription_id: SubscriptionId,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    try:
        row = await visible_subscription(request, session, context, user, subscription_id)
    except ServiceError as error:
        return missing(request, user, error)
    return await detail(request, session, workflows, user, row, done=done)


async def detail(
    request: Request,
    session: AsyncSession,
    workflows: WorkflowsDep,
    user: ConsoleUser,
    row: TokenSubscription,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The detail page: the live view, its invoices, and the commands its status allows."""
    view = await read_subscription(workflows, row)
    invoices, invoice_total = await subscription_invoices(session, row.id, limit=20, offset=0)
    offered, _ = await list_packages(session, include_inactive=False, limit=100, offset=0)
    return render(
        request, "subscription.html", user,
        {
            "view": view, "invoices": invoices, "invoice_total": invoice_total,
            "names": await package_names(session), "packages": offered,
            "may_buy": user.has(PURCHASE), "done": done, "error": error,
        },
        status_code=status_code,
    )  # fmt: skip


@router.get("/tokens/subscriptions/{subscription_id}/status")
async def status_partial(
    request: Request,
    session: DbSession,
    workflows: WorkflowsDep,
    context: Context,
    user: Viewer,
    subscription_id: SubscriptionId,
    shown: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The status card alone, which the detail page polls (htmx) while the subscription runs.
    When the status is no longer the `shown` one, htmx reloads the page instead (HX-Refresh),
    so the commands and invoices follow the new status."""
    try:
        row = await visible_subscription(request, session, context, user, subscription_id)
    except ServiceError as error:
        return missing(request, user, error)
    view = await read_subscription(workflows, row)
    if shown is not None and view.status != shown:
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return render(
        request, "_subscription_status.html", user,
        {"view": view, "names": await package_names(session)},
    )  # fmt: skip
