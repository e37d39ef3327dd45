"""A subscription's commands in the console (cancel at period end or now, pause, resume, change
package, new payment method): each a confirm page, then a CSRF-protected POST with the confirm
page's idempotency key, sent through services/subscriptions/commands.py as the API sends it.
They need tokens.purchase, as in the API."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from db.directory import PURCHASE
from db.models import TokenSubscription
from services.errors import ServiceError
from services.subscriptions.commands import (
    CommandAnswer,
    ResumeDeclined,
    SubscriptionCommands,
    offered_terms,
)
from web.auth import require
from web.console_user import ConsoleUser
from web.context import Context, DbSession, WorkflowsDep
from web.csrf import check_csrf
from web.idempotent_forms import new_key, submit_once
from web.pages.subscriptions import (
    STATUS_CODES,
    SubscriptionId,
    detail,
    missing,
    package_names,
    visible_subscription,
)
from web.subscription_forms import Action, CommandFields, command_body
from web.templates import render

router = APIRouter()
Buyer = Annotated[ConsoleUser, require(PURCHASE)]
ActionPath = Annotated[Action, Path()]
PAYMENT_DECLINED = 402


@router.get("/tokens/subscriptions/{subscription_id}/confirm/{action}")
async def confirm(
    request: Request,
    session: DbSession,
    workflows: WorkflowsDep,
    context: Context,
    user: Buyer,
    subscription_id: SubscriptionId,
    action: ActionPath,
    when: Annotated[str | None, Query(max_length=16)] = None,
    payment_method: Annotated[str | None, Query(max_length=64)] = None,
    package_id: Annotated[str | None, Query(max_length=12)] = None,
) -> Response:
    """The confirm step: what the command will do, and its form with a fresh idempotency key."""
    try:
        row = await visible_subscription(request, session, context, user, subscription_id)
    except ServiceError as error:
        return missing(request, user, error)
    try:
        body = command_body(action, CommandFields(when, payment_method, package_id))
    except ServiceError as error:
        return await detail(request, session, workflows, user, row, error=error.message,
                            status_code=STATUS_CODES[error.kind])  # fmt: skip
    return render(
        request, "subscription_confirm.html", user,
        {
            "subscription": row, "action": action, "fields": body.model_dump() if body else {},
            "names": await package_names(session), "key": new_key(),
        },
    )  # fmt: skip


@router.post("/tokens/subscriptions/{subscription_id}/{action}", dependencies=[Depends(check_csrf)])
async def command(
    request: Request,
    session: DbSession,
    workflows: WorkflowsDep,
    context: Context,
    user: Buyer,
    subscription_id: SubscriptionId,
    action: ActionPath,
    idempotency_key: Annotated[str, Form(max_length=255)],
    when: Annotated[str | None, Form(max_length=16)] = None,
    payment_method: Annotated[str | None, Form(max_length=64)] = None,
    package_id: Annotated[str | None, Form(max_length=12)] = None,
) -> Response:
    """Send the command once per key (a double submit replays the first answer), then back to
    the subscription."""
    try:
        row = await visible_subscription(request, session, context, user, subscription_id)
    except ServiceError as error:
        return missing(request, user, error)
    commands = SubscriptionCommands(session, workflows, row, user_id=user.user.id,
                                    context=context)  # fmt: skip
    try:
        body = command_body(action, CommandFields(when, payment_method, package_id))

        async def apply() -> dict[str, Any]:
            answer = await _send(session, commands, action, body)
            return answer.model_dump(mode="json")

        await submit_once(session, request, user, idempotency_key, body, apply)
    except ResumeDeclined as declined:
        await _undo(session, row)
        return await detail(request, session, workflows, user, row, error=declined.message,
                            status_code=PAYMENT_DECLINED)  # fmt: skip
    except ServiceError as error:
        await _undo(session, row)
        return await detail(request, session, workflows, user, row, error=error.message,
                            status_code=STATUS_CODES[error.kind])  # fmt: skip
    return RedirectResponse(f"/tokens/subscriptions/{subscription_id}?done={action}", 303)


async def _undo(session: DbSession, row: TokenSubscription) -> None:
    """Roll back what the refused command began (its key's claim), and read the row afresh."""
    await session.rollback()
    await session.refresh(row)


async def _send(
    session: DbSession, commands: SubscriptionCommands, action: Action, body: Any
) -> CommandAnswer:
    if action == "cancel":
        return await commands.cancel(body.when)
    if action == "pause":
        return await commands.pause()
    if action == "resume":
        return await commands.resume(body.payment_method)
    if action == "package":
        return await commands.change_package(await offered_terms(session, body.package_id))
    return await commands.update_payment_method(body.payment_method)
