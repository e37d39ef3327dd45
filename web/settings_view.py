"""What the settings page shows, read through the services the API's routes read through: the
organization, its thresholds, its spend limits, its automatic top-up policy, the packages on
sale, its webhook endpoints with their latest deliveries, its latest notifications and (for
admins) its API keys; and the notice a command leaves on the page."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from db.api_keys import ApiKeyRecord
from db.models import Organization, TokenPackage, WebhookEndpoint
from db.notification_feed import NotificationRecord
from db.spend_limits import LimitState
from db.stripe_payment_methods import SavedCard
from db.webhooks import DeliveryRecord
from services.administration.api_keys import list_api_keys
from services.administration.packages import list_packages
from services.auto_topup.policies import read_policy
from services.auto_topup.view import PolicyView
from services.errors import ErrorKind, ServiceError
from services.organizations import existing_organization
from services.payments_provider.payment_methods import current_card
from services.wallet.balances import WalletView, read_wallet
from services.wallet.notifications import notifications_feed
from services.wallet.spend_limits import list_limits
from services.webhooks.deliveries import WebhookDeliveries
from services.webhooks.endpoints import WebhookEndpoints
from tokenbill.settings import Settings

SHOWN = 50
LATEST = 10
LATEST_DELIVERIES = 5


@dataclass(frozen=True)
class Notice:
    """What a command said: done, done with a secret shown this once, or refused (with the
    status code the page answers with)."""

    message: str
    problems: list[str] = field(default_factory=list)
    secret: str | None = None
    status: int | None = None

    @classmethod
    def done(cls, message: str) -> "Notice":
        return cls(message)

    @classmethod
    def secret_shown(cls, message: str, secret: str) -> "Notice":
        return cls(message, secret=secret)

    @classmethod
    def refused(cls, problems: list[str], status: int) -> "Notice":
        return cls("Nothing was changed.", problems=problems, status=status)


@dataclass(frozen=True)
class EndpointWithLog:
    endpoint: WebhookEndpoint
    deliveries: list[DeliveryRecord]


@dataclass(frozen=True)
class SettingsView:
    organization: Organization
    wallet: WalletView
    default_low: str
    default_critical: str
    policy: PolicyView | None
    packages: list[TokenPackage]
    endpoints: list[EndpointWithLog]
    notifications: list[NotificationRecord]
    api_keys: list[ApiKeyRecord] | None
    card_payments: bool = False
    """A card provider is configured (PAYMENT_GATEWAY=stripe): the saved card is shown."""
    saved_card: SavedCard | None = None
    spend_limits: list[LimitState] = field(default_factory=list)


async def _policy(
    session: AsyncSession, settings: Settings, organization_id: int
) -> PolicyView | None:
    try:
        return await read_policy(session, settings, organization_id)
    except ServiceError as error:
        if error.kind is ErrorKind.NOT_FOUND:
            return None
        raise


async def settings_view(
    session: AsyncSession,
    settings: Settings,
    endpoints: WebhookEndpoints,
    deliveries: WebhookDeliveries,
    organization_id: int,
    *,
    with_api_keys: bool,
) -> SettingsView:
    organization = await existing_organization(session, organization_id)
    packages, _ = await list_packages(session, include_inactive=False, limit=SHOWN, offset=0)
    rows, _ = await endpoints.listing(
        organization_id, all_organizations=False, limit=SHOWN, offset=0
    )
    with_logs = [
        EndpointWithLog(
            row, (await deliveries.listing(row.id, None, limit=LATEST_DELIVERIES, offset=0))[0]
        )
        for row in rows
    ]
    notifications, _ = await notifications_feed(
        session, organization_id, source=None, status=None, created_from=None,
        created_to=None, limit=LATEST, offset=0,
    )  # fmt: skip
    keys = None
    if with_api_keys:
        keys, _ = await list_api_keys(
            session, organization_id=organization_id, include_revoked=True, limit=SHOWN, offset=0
        )
    return SettingsView(
        organization=organization,
        wallet=await read_wallet(session, settings, organization_id),
        default_low=str(settings.token_low_balance_threshold),
        default_critical=str(settings.token_critical_balance_threshold),
        policy=await _policy(session, settings, organization_id),
        packages=packages, endpoints=with_logs, notifications=notifications, api_keys=keys,
        card_payments=settings.payment_gateway == "stripe",
        saved_card=await _saved_card(session, settings, organization_id),
        spend_limits=await list_limits(session, organization_id),
    )  # fmt: skip


async def _saved_card(
    session: AsyncSession, settings: Settings, organization_id: int
) -> SavedCard | None:
    if settings.payment_gateway != "stripe":
        return None
    return await current_card(session, settings, organization_id)
