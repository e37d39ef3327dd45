"""Stripe's test payment methods the stand-in knows, and what each does to a charge."""

from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["succeed", "decline", "authenticate", "timeout_once", "dispute"]


@dataclass(frozen=True)
class TestCard:
    payment_method: str
    brand: str
    last4: str
    behaviour: Behaviour
    code: str | None = None  # the error's `code` for a decline
    decline_code: str | None = None
    message: str = ""


def _declined(
    pm: str, last4: str, decline_code: str, message: str, code: str = "card_declined"
) -> TestCard:
    return TestCard(
        pm, "visa", last4, "decline", code=code, decline_code=decline_code, message=message
    )


TEST_CARDS: dict[str, TestCard] = {
    card.payment_method: card
    for card in (
        TestCard("pm_card_visa", "visa", "4242", "succeed"),
        TestCard("pm_card_mastercard", "mastercard", "4444", "succeed"),
        TestCard("pm_card_amex", "amex", "8431", "succeed"),
        _declined("pm_card_chargeDeclined", "0002", "generic_decline", "Your card was declined."),
        _declined("pm_card_chargeDeclinedInsufficientFunds", "9995", "insufficient_funds",
                  "Your card has insufficient funds."),
        _declined("pm_card_chargeDeclinedLostCard", "9987", "lost_card", "Your card was declined."),
        _declined("pm_card_chargeDeclinedStolenCard", "9979", "stolen_card",
                  "Your card was declined."),
        _declined("pm_card_chargeDeclinedFraudulent", "0019", "fraudulent",
                  "Your card was declined."),
        _declined("pm_card_chargeDeclinedExpiredCard", "0069", "expired_card",
                  "Your card has expired.", code="expired_card"),
        _declined("pm_card_chargeDeclinedProcessingError", "0119", "processing_error",
                  "An error occurred while processing your card. Try again in a little bit.",
                  code="processing_error"),
        TestCard("pm_card_authenticationRequired", "visa", "3184", "authenticate"),
        # Succeeds; its charge is then disputed, so refunding it is refused (charge_disputed).
        TestCard("pm_card_createDispute", "visa", "0259", "dispute"),
        # The stand-in's own (Stripe has none): charged, but the first answer hangs past the
        # client's timeout; the retry with the same key gets the stored answer.
        TestCard("pm_card_standinTimeoutOnce", "visa", "4242", "timeout_once"),
    )
}  # fmt: skip
