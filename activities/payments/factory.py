"""Choosing the payment gateway the settings name."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.gateway import PaymentGateway
from activities.payments.sandbox import SandboxGateway
from tokenbill.settings import Settings


def build_gateway(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession]
) -> PaymentGateway:
    if settings.payment_gateway == "sandbox":
        return SandboxGateway(session_maker, latency=settings.sandbox_gateway_latency)
    raise ValueError(f"unknown payment gateway {settings.payment_gateway!r}")
