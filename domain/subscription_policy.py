"""The time rules a subscription run is built with, by the API and by the safety net alike."""

from datetime import timedelta

from tokenbill.settings import Settings
from workflows.subscription_types import SubscriptionPolicy


def subscription_policy(settings: Settings, grace_period: timedelta) -> SubscriptionPolicy:
    """The subscription's own grace period; reminders, dunning and cancellation from settings."""
    return SubscriptionPolicy(
        grace_period=grace_period,
        reminder_lead=settings.token_subscription_reminder_lead,
        dunning_schedule=list(settings.token_subscription_dunning_schedule),
        cancel_after_suspension=settings.token_subscription_cancel_after_suspension,
    )
