"""Exact prices: subtotal, tax and total of a quantity of tokens, rounded half-up to the cent."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Price:
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal


def price_tokens(quantity: Decimal, unit_price: Decimal, tax_rate: Decimal) -> Price:
    """Tax is computed on the rounded subtotal, as an invoice shows it."""
    subtotal = to_cents(quantity * unit_price)
    tax = to_cents(subtotal * tax_rate)
    return Price(subtotal=subtotal, tax_rate=tax_rate, tax=tax, total=subtotal + tax)
