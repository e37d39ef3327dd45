"""Creating a one-time purchase: the pending row (one transaction), then the workflow start.

The API never touches the ledger: it writes the pending purchase and hands the rest to
PurchaseWorkflow, which charges, credits, invoices and moves the row on.
"""

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.auth.dependencies import Principal
from api.errors import ApiError
from api.organization_status import organization_inactive
from api.schemas.purchases import PurchaseCreate
from db.audit import Actor, RequestContext, write_audit
from db.ledger import MAX_TOKENS, ensure_wallet
from db.models import Organization, TokenPackage, TokenPurchase
from db.pending_purchases import load_pending_purchase
from domain.pricing import price_tokens
from services.workflow_client import StartOutcome, WorkflowClient
from tokenbill.settings import Settings
from workflows.purchase import PurchaseWorkflow
from workflows.purchase_types import PurchaseInput, purchase_workflow_id
from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE

logger = logging.getLogger("tokenbill.api.purchasing")
MAX_PURCHASE_TOTAL = Decimal("1e15")  # NUMERIC(18,2) holds less than 1e16; keep well inside it


@dataclass(frozen=True)
class NewPurchase:
    reference: str
    workflow_id: str
    workflow_input: PurchaseInput


def new_purchase_reference() -> str:
    return "TKP-" + secrets.token_hex(10).upper()


async def active_package(session: AsyncSession, package_id: int) -> TokenPackage:
    package = await session.get(TokenPackage, package_id)
    if package is None:
        raise ApiError(422, "package_not_found", f"Package {package_id} does not exist.")
    if not package.is_active:
        raise ApiError(
            422, "package_inactive", f"Package {package_id} is no longer offered for sale."
        )
    return package


async def active_organization(session: AsyncSession, organization_id: int) -> None:
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise ApiError(
            422, "organization_not_found", f"Organization {organization_id} does not exist."
        )
    if not organization.is_active:
        raise organization_inactive(organization_id)


def _too_large(message: str) -> ApiError:
    return ApiError(422, "purchase_too_large", message)


async def record_pending_purchase(
    session: AsyncSession,
    *,
    settings: Settings,
    principal: Principal,
    body: PurchaseCreate,
    context: RequestContext,
) -> NewPurchase:
    """Validate, price and insert the pending purchase (with its audit row) in the open
    transaction; the caller commits."""
    package = await active_package(session, body.package_id)
    await active_organization(session, body.organization_id)
    tokens = Decimal(package.token_quantity) * body.quantity
    if tokens >= MAX_TOKENS:
        raise _too_large(f"{tokens} tokens is more than one purchase may hold.")
    unit_price = Decimal(package.price_per_token)
    tax_rate = settings.token_invoice_tax_rate
    if tokens * unit_price * (1 + tax_rate) >= MAX_PURCHASE_TOTAL:
        raise _too_large("The purchase total is larger than one purchase may cost.")
    price = price_tokens(tokens, unit_price, tax_rate)
    wallet_id = await ensure_wallet(session, body.organization_id)
    reference = new_purchase_reference()
    workflow_id = purchase_workflow_id(reference)
    description = f"{package.name} x{body.quantity}"
    session.add(
        TokenPurchase(
            purchase_reference_id=reference, organization_id=body.organization_id,
            wallet_id=wallet_id, package_id=package.id, purchase_type="one_time",
            token_quantity=tokens, price_per_token=unit_price, subtotal_amount=price.subtotal,
            tax_rate=tax_rate, tax_amount=price.tax, total_amount=price.total,
            currency=package.currency, payment_method=body.payment_method, status="pending",
            workflow_id=workflow_id, purchased_by_user_id=principal.id,
        )
    )  # fmt: skip
    await session.flush()
    workflow_input = PurchaseInput(
        purchase_reference_id=reference, organization_id=body.organization_id,
        wallet_id=wallet_id, package_id=package.id, token_quantity=tokens,
        price_per_token=unit_price, subtotal_amount=price.subtotal, tax_rate=tax_rate,
        tax_amount=price.tax, total_amount=price.total, currency=package.currency,
        payment_method=body.payment_method, description=description, actor_user_id=principal.id,
    )  # fmt: skip
    await write_audit(
        session,
        actor=Actor.user(principal.id),
        action="purchase.create",
        organization_id=body.organization_id,
        target_type="token_purchase",
        target_id=reference,
        after=workflow_input.model_dump(mode="json"),
        context=context,
    )
    return NewPurchase(reference, workflow_id, workflow_input)


async def start_purchase_workflow(
    temporal: WorkflowClient, settings: Settings, purchase: NewPurchase
) -> StartOutcome:
    """Start the purchase's workflow under its business key; NOT_STARTED only when none runs."""
    return await temporal.start(
        PurchaseWorkflow.run,
        purchase.workflow_input,
        workflow_id=purchase.workflow_id,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORGANIZATION_ID, str(purchase.workflow_input.organization_id)),
                SearchAttributePair(PURCHASE_REFERENCE, purchase.reference),
            ]
        ),
    )


async def fail_unstarted_purchase(
    session: AsyncSession,
    purchase: NewPurchase,
    *,
    principal: Principal,
    context: RequestContext,
) -> bool:
    """Close a purchase whose workflow never started; False when the row is no longer pending
    (a workflow took it after all), which is then left alone.

    The purchase workflow moves only a pending row on, so a workflow started after this finds
    the row failed and charges nothing."""
    reason = "The purchase workflow could not be started: the workflow service is unavailable."
    failed = await session.scalar(
        text(
            "UPDATE token_purchases SET status = 'failed', failure_reason = :reason, "
            "failed_at = now(), updated_at = now() "
            "WHERE purchase_reference_id = :ref AND status = 'pending' RETURNING id"
        ),
        {"reason": reason, "ref": purchase.reference},
    )
    if failed is None:
        return False
    await write_audit(
        session,
        actor=Actor.user(principal.id),
        action="purchase.start_failed",
        organization_id=purchase.workflow_input.organization_id,
        target_type="token_purchase",
        target_id=purchase.reference,
        after={"status": "failed", "failure_reason": reason},
        outcome="failure",
        context=context,
    )
    return True


async def resume_if_pending(
    session: AsyncSession, temporal: WorkflowClient, settings: Settings, reference: str
) -> None:
    """Start the workflow of a purchase still pending (idempotent: the id is the business key).
    A failure here is left to the resumePendingPurchases job."""
    pending = await load_pending_purchase(session, reference)
    if pending is None:
        return
    workflow_input = PurchaseInput.model_validate(dataclasses.asdict(pending))
    outcome = await start_purchase_workflow(
        temporal, settings, NewPurchase(reference, purchase_workflow_id(reference), workflow_input)
    )
    if outcome is not StartOutcome.STARTED:
        logger.warning("purchase %s still pending; the safety net will start it", reference)
