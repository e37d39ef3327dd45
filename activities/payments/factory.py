"""Choosing the payment gateway the settings name."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.gateway import PaymentGateway
from activities.payments.sandbox import SandboxGateway
from activities.payments.sandbox_faults import SandboxFaults
from activities.payments.stripe_gateway import StripeGateway
from tokenbill.settings import Settings


def build_gateway(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession]
) -> PaymentGateway:
    if settings.payment_gateway == "sandbox":
        faults = SandboxFaults(
            fault_rate=settings.sandbox_gateway_fault_rate,
            lost_response_rate=settings.sandbox_gateway_lost_response_rate,
            seed=settings.sandbox_gateway_fault_seed,
        )
        return SandboxGateway(
            session_maker, latency=settings.sandbox_gateway_latency, faults=faults
        )
    if settings.payment_gateway == "stripe":
        if not settings.stripe_secret_key.get_secret_value():
            raise ValueError("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY")
        return StripeGateway(
            session_maker,
            secret_key=settings.stripe_secret_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout.total_seconds(),
        )
    raise ValueError(f"unknown payment gateway {settings.payment_gateway!r}")
