"""Building the activity objects with their dependencies."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.factory import build_gateway
from activities.payments.gateway import PaymentGateway
from activities.purchase_recovery import PurchaseRecoveryActivities
from activities.purchases import PurchaseActivities
from activities.subscription_repair import SubscriptionRepairActivities
from activities.subscriptions import SubscriptionActivities
from tokenbill.settings import Settings


def build_activities(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway | None = None,
) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to one gateway and session maker."""
    payment_gateway = gateway if gateway is not None else build_gateway(settings, session_maker)
    purchases = PurchaseActivities(session_maker, payment_gateway, settings)
    recovery = PurchaseRecoveryActivities(session_maker, settings)
    subscriptions = SubscriptionActivities(session_maker, payment_gateway, settings)
    repair = SubscriptionRepairActivities(session_maker, settings)
    return [
        *purchases.definitions(),
        *recovery.definitions(),
        *subscriptions.definitions(),
        *repair.definitions(),
    ]
