"""Buying tokens (`/tokens/purchase`, TokenPurchasePage in the original): the active packages with
price, tax and total, the order form, its confirmation, the submit (safe to repeat: the form
carries an idempotency key), the purchase's live status and its printable invoice."""

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.invoice_html import invoice_html
from db.audit import RequestContext
from db.directory import PURCHASE, VIEW
from db.models import TokenPackage
from db.purchases import PurchaseRow
from domain.pricing import Price, price_tokens
from services.access import sees_finance
from services.administration.packages import list_packages
from services.errors import ServiceError
from services.finance.invoice_document import invoice_document
from services.finance.invoice_pdf import invoice_pdf
from services.finance.invoices import PrintableInvoice, invoice_by_number, printable_invoice
from services.idempotency import bound_request
from services.purchases.commands import PurchaseOrder, place_purchase, too_many_packs
from services.purchases.queries import TERMINAL_STATUSES, find_purchase
from web.auth import refuse, require
from web.console_user import ConsoleUser
from web.context import ConsoleSettings, Context, DbSession, SessionMakerDep, WorkflowsDep
from web.csrf import check_csrf
from web.templates import render

router = APIRouter()
PURCHASE_PATH = "/tokens/purchase"
MAX_ROW_ID = 2**31 - 1
PACKAGE_BATCH = 100
SANDBOX_CARDS: tuple[tuple[str, str], ...] = (
    ("pm_card_ok", "Test card: charged"),
    ("pm_card_declined", "Test card: declined"),
    ("pm_card_insufficient_funds", "Test card: insufficient funds"),
    ("pm_card_timeout_once", "Test card: times out once, then charged"),
)
_PAYMENT_METHOD = re.compile(r"^pm_[A-Za-z0-9_]{1,61}$")
_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
Reference = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
InvoiceNumber = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@dataclass(frozen=True)
class PricedPackage:
    """An active package with the price of one pack."""

    package: TokenPackage
    price: Price


@dataclass(frozen=True)
class Order:
    """The form's order, as the user filled it in."""

    organization_id: int
    package_id: int
    quantity: int
    payment_method: str
    key: str


def _priced(package: TokenPackage, packs: int, tax_rate: Decimal) -> Price:
    tokens = Decimal(package.token_quantity) * packs
    return price_tokens(tokens, Decimal(package.price_per_token), tax_rate)


async def _packages(session: DbSession, settings: ConsoleSettings) -> list[PricedPackage]:
    """Every active package (cheapest per token first), read in batches."""
    rows: list[TokenPackage] = []
    while True:
        batch, total = await list_packages(
            session, include_inactive=False, limit=PACKAGE_BATCH, offset=len(rows)
        )
        rows.extend(batch)
        if not batch or len(rows) >= total:
            break
    rate = settings.token_invoice_tax_rate
    return [PricedPackage(row, _priced(row, 1, rate)) for row in rows]


async def _own_organization(
    request: Request, session: DbSession, context: Context, user: ConsoleUser, chosen: int | None
) -> int | None:
    organization_id = chosen if chosen is not None else user.user.organization_id
    if organization_id is not None and not user.sees_organization(organization_id):
        raise await refuse(
            request, session, context, user, "You may only buy for your own organization.",
            organization_id=organization_id,
        )  # fmt: skip
    return organization_id


def _form_page(
    request: Request,
    user: ConsoleUser,
    packages: list[PricedPackage],
    settings: ConsoleSettings,
    *,
    organization_id: int | None,
    chosen: Order | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request, "purchase.html", user,
        {
            "packages": packages, "cards": SANDBOX_CARDS, "error": error,
            "organization_id": organization_id, "chosen": chosen,
            "key": chosen.key if chosen is not None else uuid.uuid4().hex,
            "max_quantity": settings.max_purchase_quantity,
            "tax_percent": settings.token_invoice_tax_rate * 100,
        },
        status_code=status_code,
    )  # fmt: skip


def _problem(order: Order, packages: list[PricedPackage], settings: ConsoleSettings) -> str | None:
    if order.quantity < 1:
        return "Buy at least one pack."
    too_many = too_many_packs(settings, order.quantity)
    if too_many is not None:
        return f"Quantity: {too_many}."
    if not _PAYMENT_METHOD.match(order.payment_method):
        return "Choose a payment method."
    if not _KEY.match(order.key):
        return "This form is out of date: reload the page and try again."
    if not any(item.package.id == order.package_id for item in packages):
        return "Choose one of the packages shown."
    return None


@router.get(PURCHASE_PATH)
async def purchase_form(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    context: Context,
    user: Annotated[ConsoleUser, require(PURCHASE)],
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    chosen = await _own_organization(request, session, context, user, organization_id)
    packages = await _packages(session, settings)
    return _form_page(request, user, packages, settings, organization_id=chosen)


@router.get(PURCHASE_PATH + "/review")
async def purchase_review(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    context: Context,
    user: Annotated[ConsoleUser, require(PURCHASE)],
    organization_id: Annotated[int, Query(ge=1, le=MAX_ROW_ID)],
    package_id: Annotated[int, Query(ge=1, le=MAX_ROW_ID)],
    quantity: Annotated[int, Query(ge=-MAX_ROW_ID, le=MAX_ROW_ID)],
    payment_method: Annotated[str, Query(max_length=64)],
    key: Annotated[str, Query(max_length=64)],
) -> Response:
    """The confirmation: what will be charged, and the button that buys."""
    await _own_organization(request, session, context, user, organization_id)
    order = Order(organization_id, package_id, quantity, payment_method, key)
    packages = await _packages(session, settings)
    problem = _problem(order, packages, settings)
    if problem is not None:
        return _form_page(
            request, user, packages, settings, organization_id=organization_id, chosen=order,
            error=problem, status_code=422,
        )  # fmt: skip
    package = next(item.package for item in packages if item.package.id == package_id)
    price = _priced(package, quantity, settings.token_invoice_tax_rate)
    card = dict(SANDBOX_CARDS).get(payment_method, payment_method)
    return render(
        request, "purchase_review.html", user,
        {"order": order, "package": package, "price": price, "card": card,
         "tokens": Decimal(package.token_quantity) * quantity,
         "tax_percent": settings.token_invoice_tax_rate * 100},
    )  # fmt: skip


@router.post(PURCHASE_PATH, dependencies=[Depends(check_csrf)])
async def purchase_submit(
    request: Request,
    session: DbSession,
    session_maker: SessionMakerDep,
    settings: ConsoleSettings,
    workflows: WorkflowsDep,
    context: Context,
    user: Annotated[ConsoleUser, require(PURCHASE)],
    organization_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
    package_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
    quantity: Annotated[int, Form(ge=-MAX_ROW_ID, le=MAX_ROW_ID)],
    payment_method: Annotated[str, Form(max_length=64)],
    key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Buy, once per form: a second submit of the same form (its key) shows the same purchase."""
    await _own_organization(request, session, context, user, organization_id)
    order = Order(organization_id, package_id, quantity, payment_method, key)
    packages = await _packages(session, settings)
    problem = _problem(order, packages, settings)
    if problem is None:
        purchase_order = PurchaseOrder(organization_id, package_id, quantity, payment_method)
        bound = bound_request(
            user_id=user.user.id, key=key, method="POST", path=PURCHASE_PATH,
            body={"organization_id": organization_id, "package_id": package_id,
                  "quantity": quantity, "payment_method": payment_method},
        )  # fmt: skip
        try:
            answer = await place_purchase(
                session, session_maker, settings, workflows, purchase_order, bound,
                actor_user_id=user.user.id, context=context,
            )  # fmt: skip
        except ServiceError as error:
            reference = error.details.get("purchase_reference_id")
            if isinstance(reference, str) and error.code == "workflow_start_unknown":
                return RedirectResponse(f"{PURCHASE_PATH}/{reference}", status_code=303)
            await session.rollback()
            problem = error.message
        else:
            reference = answer.body["purchase_reference_id"]
            return RedirectResponse(f"{PURCHASE_PATH}/{reference}", status_code=303)
    return _form_page(
        request, user, packages, settings, organization_id=organization_id, chosen=order,
        error=problem, status_code=422,
    )  # fmt: skip


async def _visible_purchase(
    request: Request, session: DbSession, context: Context, user: ConsoleUser, reference: str
) -> PurchaseRow:
    try:
        purchase = await find_purchase(session, reference)
    except ServiceError:
        raise await refuse(
            request, session, context, user, f"There is no purchase {reference} for you to see.",
            organization_id=user.user.organization_id,
        ) from None  # fmt: skip
    if not user.sees_organization(purchase.organization_id):
        raise await refuse(
            request, session, context, user, "You may only see your own organization's purchases.",
            organization_id=purchase.organization_id,
        )  # fmt: skip
    return purchase


@router.get(PURCHASE_PATH + "/{reference}")
async def purchase_page(
    request: Request,
    session: DbSession,
    context: Context,
    user: Annotated[ConsoleUser, require(VIEW)],
    reference: Reference,
) -> Response:
    purchase = await _visible_purchase(request, session, context, user, reference)
    return render(
        request, "purchase_status.html", user,
        {"purchase": purchase, "settled": purchase.status in TERMINAL_STATUSES},
    )  # fmt: skip


@router.get(PURCHASE_PATH + "/{reference}/status")
async def purchase_status_partial(
    request: Request,
    session: DbSession,
    context: Context,
    user: Annotated[ConsoleUser, require(VIEW)],
    reference: Reference,
) -> Response:
    """The live status alone, which the purchase page polls (htmx) until it settles."""
    purchase = await _visible_purchase(request, session, context, user, reference)
    return render(
        request, "_purchase_status.html", user,
        {"purchase": purchase, "settled": purchase.status in TERMINAL_STATUSES},
    )  # fmt: skip


async def _visible_invoice(
    request: Request,
    session: AsyncSession,
    context: RequestContext,
    user: ConsoleUser,
    invoice_number: str,
) -> PrintableInvoice:
    """The invoice, when it is the user's organization's (or the user is finance staff)."""
    try:
        invoice = await invoice_by_number(session, invoice_number)
    except ServiceError:
        invoice = None
    if invoice is None or not (
        sees_finance(user.user) or user.sees_organization(invoice.organization_id)
    ):
        message = f"There is no invoice {invoice_number} for you to see."
        raise await refuse(
            request, session, context, user, message,
            organization_id=None if invoice is None else invoice.organization_id,
        )  # fmt: skip
    return await printable_invoice(session, invoice)


# Declared before the printable page: "{number}.pdf" would otherwise reach it and fail its pattern.
@router.get("/tokens/invoices/{invoice_number}.pdf")
async def invoice_pdf_download(
    request: Request,
    session: DbSession,
    context: Context,
    user: Annotated[ConsoleUser, require(VIEW)],
    invoice_number: InvoiceNumber,
) -> Response:
    """The invoice as a PDF, drawn from the same document as the printable page."""
    printable = await _visible_invoice(request, session, context, user, invoice_number)
    return Response(
        invoice_pdf(invoice_document(printable)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice_number}.pdf"'},
    )


@router.get("/tokens/invoices/{invoice_number}")
async def printable_invoice_page(
    request: Request,
    session: DbSession,
    context: Context,
    user: Annotated[ConsoleUser, require(VIEW)],
    invoice_number: InvoiceNumber,
) -> Response:
    """The invoice's printable page (the API's /api/tokens/invoices/{number}.html, opened with
    the console's session)."""
    printable = await _visible_invoice(request, session, context, user, invoice_number)
    return HTMLResponse(
        invoice_html(printable),
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )
