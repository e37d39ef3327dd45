"""What tokenbill needs from a payment processor: idempotent charges and refunds."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ChargeResult:
    """A captured charge; a replayed idempotency key returns the first one (replayed=True)."""

    charge_reference: str
    amount: Decimal
    currency: str
    payment_method: str
    replayed: bool


@dataclass(frozen=True)
class RefundResult:
    refund_reference: str
    charge_reference: str
    amount: Decimal
    currency: str
    replayed: bool


class GatewayError(Exception):
    """The gateway refused or could not answer a request."""


class PaymentDeclined(GatewayError):
    """The charge was declined. A hard decline will not succeed on a retry with the same method."""

    def __init__(self, code: str, message: str, *, hard: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.hard = hard


class PaymentRequiresAction(GatewayError):
    """The customer must act (3-D Secure) before the charge can succeed. Nothing is charged yet;
    once the customer has completed it, the same request with the same key answers the charge."""

    def __init__(
        self, payment_reference: str, *, client_secret: str | None, action_url: str | None
    ) -> None:
        super().__init__(f"payment {payment_reference} requires the customer's authentication")
        self.payment_reference = payment_reference
        self.client_secret = client_secret
        self.action_url = action_url


class GatewayTimeout(GatewayError):
    """No answer arrived: the operation may or may not have happened; retry with the same key."""


class GatewayUnavailable(GatewayError):
    """The processor failed before doing anything (its 5xx): nothing happened; retry, same key."""


class RefundRefused(GatewayError):
    """The refund cannot be made (unknown charge, more than what is left of the charge)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class IdempotencyKeyMismatch(GatewayError):
    """The key was already used for a different operation, amount, currency or method."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


class InvalidGatewayRequest(GatewayError):
    """The request is malformed (amount, currency, key); no retry can fix it."""


@runtime_checkable
class CancellablePayments(Protocol):
    """A gateway whose payments can wait for the customer can also call such a payment off."""

    async def cancel_payment(self, *, payment_reference: str, idempotency_key: str) -> bool:
        """Cancel the waiting payment: True when it is cancelled (or was), False when it
        succeeded meanwhile (then the charge's own key answers the charge)."""
        ...


class PaymentGateway(Protocol):
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
        """Charge the method. `organization_id` and `reference` name who pays and what for (a
        processor with customers keeps them); `off_session` says the customer is not present
        (a renewal, an auto top-up), so the processor cannot ask them to authenticate."""
        ...

    async def refund(
        self,
        *,
        idempotency_key: str,
        charge_reference: str,
        amount: Decimal,
        currency: str,
    ) -> RefundResult: ...
