"""The payment methods the run's clients use, as each gateway names them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ChaosCards:
    ok: str
    declined: str


CARDS = {
    "sandbox": ChaosCards(ok="pm_card_ok", declined="pm_card_declined"),
    "stripe": ChaosCards(ok="pm_card_visa", declined="pm_card_chargeDeclined"),
}
