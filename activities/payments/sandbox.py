"""A gateway that behaves like a card processor's test mode, its book kept in PostgreSQL.

Every charge and refund is stored under its idempotency key in payment_gateway_operations, so a
repeated key returns the first result, also after a restart, and concurrent requests with one key
charge once (the unique key decides, inside the database).
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.gateway import (
    ChargeResult,
    GatewayTimeout,
    IdempotencyKeyMismatch,
    InvalidGatewayRequest,
    PaymentDeclined,
    RefundRefused,
    RefundResult,
)
from activities.payments.sandbox_faults import FaultInjector, SandboxFaults
from db.gateway_book import (
    GatewayOperation,
    count_repeated_attempt,
    lock_captured_charge,
    record_operation,
    refunded_amount,
)

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e16")  # NUMERIC(18, 2) holds less than this


@dataclass(frozen=True)
class Decline:
    code: str
    message: str
    hard: bool


CARD_OK = "pm_card_ok"
CARD_TIMEOUT_ONCE = "pm_card_timeout_once"
# Charged like pm_card_ok, but its charges are disputed: the processor refuses to refund them.
CARD_REFUND_REFUSED = "pm_card_refund_refused"
DECLINING_CARDS: dict[str, Decline] = {
    "pm_card_declined": Decline("card_declined", "The card was declined.", hard=False),
    "pm_card_insufficient_funds": Decline(
        "insufficient_funds", "The card has insufficient funds.", hard=False
    ),
    "pm_card_lost": Decline("lost_card", "The card was reported lost.", hard=True),
    "pm_card_stolen": Decline("stolen_card", "The card was reported stolen.", hard=True),
}
# Retrying an unknown method can never succeed, so it is a hard decline.
INVALID_METHOD = Decline(
    "invalid_payment_method", "The payment method is not a card this gateway accepts.", hard=True
)
DECLINE_BY_CODE = {d.code: d for d in (*DECLINING_CARDS.values(), INVALID_METHOD)}


def decline_for(payment_method: str) -> Decline | None:
    """The decline a test card produces, or None for a card that is charged."""
    if payment_method in (CARD_OK, CARD_TIMEOUT_ONCE, CARD_REFUND_REFUSED):
        return None
    return DECLINING_CARDS.get(payment_method, INVALID_METHOD)


class SandboxGateway:
    """The test-mode processor: behaviour chosen by the payment method, book in the database."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        *,
        latency: timedelta = timedelta(0),
        faults: SandboxFaults | None = None,
    ) -> None:
        self._session_maker = session_maker
        self._latency = latency.total_seconds()
        self._faults = FaultInjector(faults or SandboxFaults())

    async def charge(
        self,
        *,
        idempotency_key: str,
        payment_method: str,
        amount: Decimal,
        currency: str,
        description: str,
        organization_id: int | None = None,
        reference: str | None = None,
        off_session: bool = False,
    ) -> ChargeResult:
        _check_key(idempotency_key)
        _check_amount(amount)
        currency = _check_currency(currency)
        if not 0 < len(payment_method) <= 64:
            raise InvalidGatewayRequest("a payment method has 1 to 64 characters")
        decline = decline_for(payment_method)
        new_reference = f"ch_{uuid.uuid4().hex}"
        await self._processing_time()
        self._faults.before_processing("charge", idempotency_key)
        async with self._session_maker() as session, session.begin():
            row = await record_operation(
                session,
                GatewayOperation(
                    idempotency_key=idempotency_key, operation="charge",
                    gateway_reference=new_reference, payment_method=payment_method,
                    charge_reference=None, amount=amount, currency=currency,
                    status="succeeded" if decline is None else "declined",
                    decline_code=None if decline is None else decline.code,
                ),
            )  # fmt: skip
            if (row.operation, row.payment_method, row.amount, row.currency) != (
                "charge", payment_method, amount, currency,
            ):  # fmt: skip
                raise IdempotencyKeyMismatch(idempotency_key)
        first_attempt = row.gateway_reference == new_reference
        self._faults.after_recording("charge", idempotency_key)
        if row.status == "declined":
            stored = DECLINE_BY_CODE[row.decline_code or ""]
            raise PaymentDeclined(stored.code, stored.message, hard=stored.hard)
        if first_attempt and payment_method == CARD_TIMEOUT_ONCE:
            # The charge is captured and stored, but its answer is lost on the way back.
            raise GatewayTimeout(f"no answer for charge {idempotency_key!r}")
        return ChargeResult(
            charge_reference=row.gateway_reference,
            amount=row.amount,
            currency=row.currency,
            payment_method=payment_method,  # the booked one, as the key's check proved
            replayed=not first_attempt,
        )

    async def _processing_time(self) -> None:
        """A real processor takes a while to answer; the latency setting makes that visible."""
        if self._latency > 0:
            await asyncio.sleep(self._latency)

    async def refund(
        self,
        *,
        idempotency_key: str,
        charge_reference: str,
        amount: Decimal,
        currency: str,
    ) -> RefundResult:
        _check_key(idempotency_key)
        _check_amount(amount)
        currency = _check_currency(currency)
        await self._processing_time()
        self._faults.before_processing("refund", idempotency_key)
        refund = await self._refund(idempotency_key, charge_reference, amount, currency)
        self._faults.after_recording("refund", idempotency_key)
        return refund

    async def _refund(
        self, idempotency_key: str, charge_reference: str, amount: Decimal, currency: str
    ) -> RefundResult:
        async with self._session_maker() as session, session.begin():
            # Locking the charge serialises every refund of it, so the total refunded is exact.
            charge = await lock_captured_charge(session, charge_reference)
            previous = await self._replayed_refund(
                session, idempotency_key, charge_reference, amount, currency
            )
            if previous is not None:
                return previous
            if charge is None:
                raise RefundRefused("unknown_charge", f"no captured charge {charge_reference}")
            if charge.payment_method == CARD_REFUND_REFUSED:
                raise RefundRefused(
                    "charge_disputed",
                    f"charge {charge_reference} is disputed and cannot be refunded",
                )
            if charge.currency != currency:
                raise RefundRefused(
                    "currency_mismatch", f"the charge was made in {charge.currency}"
                )
            left = charge.amount - await refunded_amount(session, charge_reference)
            if amount > left:
                raise RefundRefused(
                    "amount_exceeds_charge",
                    f"only {left} {currency} of charge {charge_reference} can be refunded",
                )
            reference = f"re_{uuid.uuid4().hex}"
            await record_operation(
                session,
                GatewayOperation(
                    idempotency_key=idempotency_key, operation="refund",
                    gateway_reference=reference, payment_method=None,
                    charge_reference=charge_reference, amount=amount, currency=currency,
                    status="succeeded", decline_code=None,
                ),
            )  # fmt: skip
        return RefundResult(reference, charge_reference, amount, currency, replayed=False)

    async def _replayed_refund(
        self,
        session: AsyncSession,
        idempotency_key: str,
        charge_reference: str,
        amount: Decimal,
        currency: str,
    ) -> RefundResult | None:
        row = await count_repeated_attempt(session, idempotency_key)
        if row is None:
            return None
        if (row.operation, row.charge_reference, row.amount, row.currency) != (
            "refund", charge_reference, amount, currency,
        ):  # fmt: skip
            raise IdempotencyKeyMismatch(idempotency_key)
        return RefundResult(
            row.gateway_reference, charge_reference, row.amount, row.currency, replayed=True
        )


def _check_key(key: str) -> None:
    if not 0 < len(key) <= 255:
        raise InvalidGatewayRequest("an idempotency key has 1 to 255 characters")


def _check_amount(amount: Decimal) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidGatewayRequest("amounts are exact decimals")
    if amount <= 0 or amount >= MAX_AMOUNT:
        raise InvalidGatewayRequest("an amount is greater than zero and below 10^16")
    if amount != amount.quantize(CENT):
        raise InvalidGatewayRequest("an amount has at most 2 decimal places")


def _check_currency(currency: str) -> str:
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidGatewayRequest("a currency is a 3-letter ISO 4217 code")
    return currency.upper()
