"""Buying a token package: the pending purchase (one transaction), then its workflow's start,
and the whole idempotent sequence both front doors run (place_purchase).

The ledger is never touched here: the pending row is handed to PurchaseWorkflow, which charges,
credits, invoices and moves the row on.
"""

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db.audit import Actor, RequestContext, write_audit
from db.ledger import MAX_TOKENS, ensure_wallet
from db.models import TokenPurchase
from db.pending_purchases import load_pending_purchase
from db.purchases import fail_pending
from domain.pricing import price_tokens
from services.catalog import active_package
from services.errors import ServiceError, invalid, unavailable
from services.idempotency import IdempotentRequest, StoredAnswer, claim, forget, store_response
from services.organizations import active_organization
from services.rate_limits import count_request, purchase_bucket
from tokenbill.settings import Settings
from tokenbill.workflow_client import StartOutcome, WorkflowClient
from workflows.purchase import PurchaseWorkflow
from workflows.purchase_types import PurchaseInput, PurchaseStatus, purchase_workflow_id
from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE

logger = logging.getLogger("tokenbill.services.purchases")
MAX_PURCHASE_TOTAL = Decimal("1e15")  # NUMERIC(18,2) holds less than 1e16; keep well inside it
START_FAILED_REASON = (
    "The purchase workflow could not be started: the workflow service is unavailable."
)


@dataclass(frozen=True)
class PurchaseOrder:
    """What a buyer asks for: `quantity` packs of a package for an organization."""

    organization_id: int
    package_id: int
    quantity: int
    payment_method: str


@dataclass(frozen=True)
class NewPurchase:
    """A purchase recorded as pending, with the input its workflow is started with."""

    purchase_reference_id: str
    workflow_id: str
    workflow_input: PurchaseInput
    status: PurchaseStatus = "pending"


ACCEPTED_STATUS = 202
"""The status an accepted purchase is kept (and answered) with."""


def too_many_packs(settings: Settings, quantity: int) -> str | None:
    """Why `quantity` packs are too many for one purchase, or None."""
    if quantity > settings.max_purchase_quantity:
        return f"at most {settings.max_purchase_quantity} packs per purchase"
    return None


async def place_purchase(
    session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    workflows: WorkflowClient,
    order: PurchaseOrder,
    key: IdempotentRequest,
    *,
    actor_user_id: int,
    context: RequestContext,
) -> StoredAnswer:
    """Buy once per idempotency key: the accepted purchase (or, for a key already used, its
    first answer, resuming a purchase still pending).

    Not the usual claim/work/store/commit: the answer is stored and committed with the pending
    row BEFORE the workflow starts, so a replay after a crash between the two finds both and
    resumes it. Rate limited per organization (RATE_LIMITED)."""
    replay = await claim(session, key)
    if replay is not None:
        if replay.status == ACCEPTED_STATUS:
            # The first request may have died between its commit and the workflow start.
            await resume_if_pending(session, workflows, replay.body["purchase_reference_id"])
        return replay
    await count_request(
        session_maker,
        bucket=purchase_bucket(order.organization_id),
        limit=settings.purchase_rate_limit,
        window=settings.purchase_rate_window,
    )
    purchase = await record_pending_purchase(
        session, settings, order, actor_user_id=actor_user_id, context=context
    )
    accepted = StoredAnswer(
        ACCEPTED_STATUS,
        {
            "purchase_reference_id": purchase.purchase_reference_id,
            "workflow_id": purchase.workflow_id,
            "status": purchase.status,
        },
    )
    await store_response(session, key, accepted.status, accepted.body)
    await session.commit()

    async def free_the_key() -> None:
        await forget(session, key)

    await start_recorded_purchase(
        session, workflows, purchase, actor_user_id=actor_user_id, context=context,
        undo_with_failure=free_the_key,
    )  # fmt: skip
    return accepted


def new_purchase_reference() -> str:
    return "TKP-" + secrets.token_hex(10).upper()


def _too_large(message: str) -> ServiceError:
    return invalid("purchase_too_large", message)


async def record_pending_purchase(
    session: AsyncSession,
    settings: Settings,
    order: PurchaseOrder,
    *,
    actor_user_id: int,
    context: RequestContext,
) -> NewPurchase:
    """Validate, price and insert the pending purchase (with its audit row) in the open
    transaction; the caller commits."""
    package = await active_package(session, order.package_id)
    await active_organization(session, order.organization_id)
    tokens = Decimal(package.token_quantity) * order.quantity
    if tokens >= MAX_TOKENS:
        raise _too_large(f"{tokens} tokens is more than one purchase may hold.")
    unit_price = Decimal(package.price_per_token)
    tax_rate = settings.token_invoice_tax_rate
    if tokens * unit_price * (1 + tax_rate) >= MAX_PURCHASE_TOTAL:
        raise _too_large("The purchase total is larger than one purchase may cost.")
    price = price_tokens(tokens, unit_price, tax_rate)
    wallet_id = await ensure_wallet(session, order.organization_id)
    reference = new_purchase_reference()
    workflow_input = PurchaseInput(
        purchase_reference_id=reference, organization_id=order.organization_id,
        wallet_id=wallet_id, package_id=package.id, token_quantity=tokens,
        price_per_token=unit_price, subtotal_amount=price.subtotal, tax_rate=tax_rate,
        tax_amount=price.tax, total_amount=price.total, currency=package.currency,
        payment_method=order.payment_method, description=f"{package.name} x{order.quantity}",
        actor_user_id=actor_user_id,
    )  # fmt: skip
    purchase = NewPurchase(reference, purchase_workflow_id(reference), workflow_input)
    session.add(
        TokenPurchase(
            **workflow_input.model_dump(exclude={"description", "actor_user_id"}),
            status=purchase.status,
            workflow_id=purchase.workflow_id,
            purchased_by_user_id=actor_user_id,
        )
    )
    await session.flush()
    await write_audit(
        session,
        actor=Actor.user(actor_user_id),
        action="purchase.create",
        organization_id=order.organization_id,
        target_type="token_purchase",
        target_id=reference,
        after=workflow_input.model_dump(mode="json"),
        context=context,
    )
    return purchase


async def start_recorded_purchase(
    session: AsyncSession,
    workflows: WorkflowClient,
    purchase: NewPurchase,
    *,
    actor_user_id: int,
    context: RequestContext,
    undo_with_failure: Callable[[], Awaitable[None]],
) -> None:
    """Start the committed purchase's workflow.

    When no workflow started, the purchase is failed and `undo_with_failure` runs in the same
    transaction (the API forgets the idempotency key's answer there); both are committed and
    the answer is UNAVAILABLE `workflow_unavailable`. When the start was not confirmed, the
    purchase stays pending (a retry or the resumePendingPurchases job completes it) and the
    answer is UNAVAILABLE `workflow_start_unknown`.
    """
    reference = purchase.purchase_reference_id
    outcome = await _start(workflows, purchase.workflow_input)
    if outcome is StartOutcome.NOT_STARTED:
        if await _fail_unstarted(session, purchase, actor_user_id=actor_user_id, context=context):
            await undo_with_failure()
            await session.commit()
            raise unavailable(
                "workflow_unavailable",
                "The workflow service is unavailable, so the purchase was not started and "
                "nothing was charged. Retry later.",
                {"purchase_reference_id": reference},
            )
        logger.warning("purchase %s was taken up by a workflow after all", reference)
    if outcome is StartOutcome.UNKNOWN:
        raise unavailable(
            "workflow_start_unknown",
            f"The purchase {reference} was recorded, but the workflow service did not "
            "confirm that its workflow started. It will be completed (and charged) once the "
            "service answers: retry with the same Idempotency-Key to follow it, never with a "
            "new one.",
            {"purchase_reference_id": reference},
        )


async def resume_if_pending(
    session: AsyncSession, workflows: WorkflowClient, reference: str
) -> None:
    """Start the workflow of a purchase still pending (idempotent: the id is the business key).
    A failure here is left to the resumePendingPurchases job."""
    pending = await load_pending_purchase(session, reference)
    if pending is None:
        return
    workflow_input = PurchaseInput.model_validate(dataclasses.asdict(pending))
    if await _start(workflows, workflow_input) is not StartOutcome.STARTED:
        logger.warning("purchase %s still pending; the safety net will start it", reference)


async def _start(workflows: WorkflowClient, workflow_input: PurchaseInput) -> StartOutcome:
    """Start the purchase's workflow under its business key; NOT_STARTED only when none runs."""
    reference = workflow_input.purchase_reference_id
    return await workflows.start(
        PurchaseWorkflow.run,
        workflow_input,
        workflow_id=purchase_workflow_id(reference),
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORGANIZATION_ID, str(workflow_input.organization_id)),
                SearchAttributePair(PURCHASE_REFERENCE, reference),
            ]
        ),
    )


async def _fail_unstarted(
    session: AsyncSession, purchase: NewPurchase, *, actor_user_id: int, context: RequestContext
) -> bool:
    """Close a purchase whose workflow never started; False when the row is no longer pending
    (a workflow took it after all), which is then left alone.

    The purchase workflow moves only a pending row on, so a workflow started after this finds
    the row failed and charges nothing."""
    reference = purchase.purchase_reference_id
    if not await fail_pending(session, reference, reason=START_FAILED_REASON):
        return False
    await write_audit(
        session,
        actor=Actor.user(actor_user_id),
        action="purchase.start_failed",
        organization_id=purchase.workflow_input.organization_id,
        target_type="token_purchase",
        target_id=reference,
        after={"status": "failed", "failure_reason": START_FAILED_REASON},
        outcome="failure",
        context=context,
    )
    return True
