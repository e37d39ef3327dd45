"""The payment gateway on Stripe (PAYMENT_GATEWAY=stripe), through the official SDK's async calls.

A charge is a PaymentIntent created and confirmed at once, under tokenbill's business key as
Stripe's Idempotency-Key, for the organisation's Customer (created once with the key
`customer:<organization id>`, its id kept in stripe_customers). A refund is a Refund of the
PaymentIntent under its own key. The charge reference tokenbill keeps is the PaymentIntent's id.

An answer that never came is GatewayTimeout and the retry sends the same key: Stripe replays the
first answer. A replayed answer that is not final (3-D Secure pending) is read again, so the
retry after the customer authenticated sees the charge.
"""

from decimal import Decimal
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.gateway import (
    ChargeResult,
    GatewayUnavailable,
    InvalidGatewayRequest,
    PaymentRequiresAction,
    RefundRefused,
    RefundResult,
)
from activities.payments.minor_units import from_minor_units, to_minor_units
from activities.payments.stripe_errors import decline_from, gateway_error
from db.stripe_customers import customer_of, keep_customer

DEFAULT_API_BASE = "https://api.stripe.com"
REFUND_REFUSALS = frozenset({
    "charge_disputed", "charge_already_refunded", "amount_too_large", "charge_not_refundable",
    "resource_missing",
})  # fmt: skip


def customer_key(organization_id: int) -> str:
    return f"customer:{organization_id}"


def _replayed(resource: stripe.StripeObject) -> bool:
    response = resource.last_response
    return response is not None and response.headers.get("idempotent-replayed") == "true"


class StripeGateway:
    """Charges and refunds at Stripe (or the local stand-in `api_base` names)."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        *,
        secret_key: str,
        api_base: str = DEFAULT_API_BASE,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._session_maker = session_maker
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            max_network_retries=0,  # tokenbill retries (Temporal), always with the same key
            http_client=stripe.HTTPXClient(timeout=timeout_seconds),
        )

    async def customer(self, organization_id: int) -> str:
        """The organisation's Customer id, created at Stripe the first time."""
        async with self._session_maker() as session:
            known = await customer_of(session, organization_id)
        if known is not None:
            return known
        key = customer_key(organization_id)
        try:
            created = await self._client.v1.customers.create_async(
                params={"metadata": {"organization_id": str(organization_id)}},
                options={"idempotency_key": key},
            )
        except stripe.StripeError as failed:
            raise gateway_error(failed, key) from failed
        async with self._session_maker() as session, session.begin():
            return await keep_customer(session, organization_id, created.id)

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
        if not 0 < len(idempotency_key) <= 255:
            raise InvalidGatewayRequest("an idempotency key has 1 to 255 characters")
        units = to_minor_units(amount, currency)
        metadata = {"tokenbill_key": idempotency_key}
        params: dict[str, Any] = {
            "amount": units, "currency": currency.lower(), "payment_method": payment_method,
            "confirm": True, "payment_method_types": ["card"], "description": description,
            "metadata": metadata,
        }  # fmt: skip
        if organization_id is not None:
            params["customer"] = await self.customer(organization_id)
            metadata["organization_id"] = str(organization_id)
        if reference is not None:
            metadata["reference"] = reference
        if off_session:
            params["off_session"] = True
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as declined:
            intent = await self._intent_after_decline(declined, idempotency_key)
            return self._outcome(intent, payment_method, replayed=True)
        except stripe.StripeError as failed:
            raise gateway_error(failed, idempotency_key) from failed
        replayed = _replayed(intent)
        if replayed and intent.status != "succeeded":
            intent = await self._current(intent.id, idempotency_key)
        return self._outcome(intent, payment_method, replayed)

    async def cancel_payment(self, *, payment_reference: str, idempotency_key: str) -> bool:
        try:
            await self._client.v1.payment_intents.cancel_async(
                payment_reference,
                params={"cancellation_reason": "abandoned"},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as refused:
            if refused.code != "payment_intent_unexpected_state":
                raise gateway_error(refused, idempotency_key) from refused
            current = await self._current(payment_reference, idempotency_key)
            return current.status != "succeeded"
        except stripe.StripeError as failed:
            raise gateway_error(failed, idempotency_key) from failed
        return True

    async def _current(self, intent_id: str, key: str) -> stripe.PaymentIntent:
        try:
            return await self._client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.StripeError as failed:
            raise gateway_error(failed, key) from failed

    async def _intent_after_decline(
        self, declined: stripe.CardError, key: str
    ) -> stripe.PaymentIntent:
        """The intent when a replayed decline's intent has been completed since (the customer
        authenticated on-session); otherwise the decline, or the authentication an off-session
        charge needs, raised."""
        error = declined.error
        intent = getattr(error, "payment_intent", None) if error is not None else None
        replayed = (declined.headers or {}).get("idempotent-replayed") == "true"
        if intent is not None and replayed:
            current = await self._current(intent.id, key)
            if current.status in ("succeeded", "requires_action"):
                return current
        if declined.code == "authentication_required" and intent is not None:
            raise PaymentRequiresAction(
                intent.id, client_secret=intent.client_secret, action_url=None
            ) from declined
        raise decline_from(declined) from declined

    def _outcome(
        self, intent: stripe.PaymentIntent, payment_method: str, replayed: bool
    ) -> ChargeResult:
        if intent.status == "succeeded":
            return ChargeResult(
                charge_reference=intent.id,
                amount=from_minor_units(intent.amount, intent.currency),
                currency=intent.currency.upper(),
                payment_method=payment_method,
                replayed=replayed,
            )
        if intent.status == "requires_action":
            raise _action(intent)
        raise GatewayUnavailable(f"payment {intent.id} is {intent.status}; asking again later")

    async def refund(
        self,
        *,
        idempotency_key: str,
        charge_reference: str,
        amount: Decimal,
        currency: str,
    ) -> RefundResult:
        if not 0 < len(idempotency_key) <= 255:
            raise InvalidGatewayRequest("an idempotency key has 1 to 255 characters")
        units = to_minor_units(amount, currency)
        target = "payment_intent" if charge_reference.startswith("pi_") else "charge"
        try:
            refund = await self._client.v1.refunds.create_async(
                params={target: charge_reference, "amount": units,  # type: ignore[arg-type]
                        "metadata": {"tokenbill_key": idempotency_key}},
                options={"idempotency_key": idempotency_key},
            )  # fmt: skip
        except stripe.InvalidRequestError as refused:
            if refused.code in REFUND_REFUSALS or refused.http_status == 404:
                raise RefundRefused(
                    refused.code or "refund_refused", refused.user_message or str(refused)
                ) from refused
            raise gateway_error(refused, idempotency_key) from refused
        except stripe.StripeError as failed:
            raise gateway_error(failed, idempotency_key) from failed
        if refund.currency.upper() != currency.upper() or refund.amount != units:
            raise InvalidGatewayRequest(f"refund {refund.id} does not match {amount} {currency}")
        return RefundResult(
            refund_reference=refund.id,
            charge_reference=charge_reference,
            amount=from_minor_units(refund.amount, refund.currency),
            currency=refund.currency.upper(),
            replayed=_replayed(refund),
        )


def _action(intent: stripe.PaymentIntent) -> PaymentRequiresAction:
    url = None
    action = intent.next_action
    if action is not None and action.type == "redirect_to_url" and action.redirect_to_url:
        url = action.redirect_to_url.url
    return PaymentRequiresAction(intent.id, client_secret=intent.client_secret, action_url=url)
