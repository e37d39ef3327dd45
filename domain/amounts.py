"""How amounts are written wherever they leave the engine (API answers, pages, the audit log,
reports): token quantities without exponent or trailing zeros, money in cents, unit prices with at
least cents."""

from decimal import Decimal

from domain.pricing import CENT


def plain_decimal(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: Decimal('500.0000') -> '500'."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def money_text(value: Decimal) -> str:
    """Money to the cent: Decimal('12.5') -> '12.50'."""
    return format(value.quantize(CENT), "f")


def unit_price_text(value: Decimal) -> str:
    """At least cents, more digits only when the price has them: '0.50', '0.125'."""
    text = plain_decimal(value)
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"
