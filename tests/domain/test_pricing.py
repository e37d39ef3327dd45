"""Prices are exact and rounded the way an invoice shows them."""

from decimal import Decimal

from domain.pricing import price_tokens


def test_business_pack_costs_250_plus_16_percent_tax():
    price = price_tokens(Decimal("500"), Decimal("0.50"), Decimal("0.16"))
    assert (price.subtotal, price.tax, price.total) == (
        Decimal("250.00"), Decimal("40.00"), Decimal("290.00"),
    )  # fmt: skip


def test_half_cents_round_up():
    price = price_tokens(Decimal("1"), Decimal("0.125"), Decimal("0.16"))
    assert price.subtotal == Decimal("0.13")
    assert price.tax == Decimal("0.02")
    assert price.total == Decimal("0.15")
