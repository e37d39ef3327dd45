"""Amounts in a currency's smallest unit, as card processors count them (Stripe's `amount`)."""

from decimal import Decimal

from activities.payments.gateway import InvalidGatewayRequest

# Stripe's zero-decimal and three-decimal currencies; every other one has cents.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())


def exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """The exact count of minor units; an amount finer than the currency's unit is refused."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidGatewayRequest(f"{amount} {currency} is not a whole number of minor units")
    if scaled <= 0:
        raise InvalidGatewayRequest("the amount must be positive")
    return int(scaled)


def from_minor_units(units: int, currency: str) -> Decimal:
    digits = exponent(currency)
    return Decimal(units).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))
