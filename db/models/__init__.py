"""SQLAlchemy models, one module per domain: the seed's nine tables plus what a standalone billing
system needs. Importing this package puts every table on `Base.metadata` (Alembic reads it)."""

from db.models.auto_topup import AutoTopup, AutoTopupPolicy
from db.models.base import Base
from db.models.console import ConsoleSession, SignInAttempt
from db.models.finance import MonthlyReport, MonthlyReportOrganization
from db.models.forecasts import TokenUsageForecast
from db.models.holds import TokenHold
from db.models.invoices import Invoice, InvoiceLine, InvoiceNumberSequence
from db.models.ledger import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    OrganizationTokenWallet,
    TokenBalanceHistory,
    TokenLot,
)
from db.models.notifications import (
    LowBalanceNotification,
    NotificationEvent,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from db.models.operations import JobRun, ReconciliationMismatch, ReconciliationRun
from db.models.organizations import ApiKey, Organization, User
from db.models.payments_provider import StripeEvent, StripePaymentMethod, TokenDispute
from db.models.platform import (
    IdempotencyRecord,
    PaymentGatewayOperation,
    RateLimitCounter,
    TokenAuditLog,
)
from db.models.purchases import TokenPackage, TokenPurchase
from db.models.spend_limits import SpendLimit, SpendLimitUsage
from db.models.stripe import StripeCustomer, StripePaymentAction
from db.models.subscriptions import TokenSubscription

__all__ = [
    "ApiKey",
    "AutoTopup",
    "AutoTopupPolicy",
    "Base",
    "ConsoleSession",
    "IdempotencyRecord",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "JobRun",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "LowBalanceNotification",
    "MonthlyReport",
    "MonthlyReportOrganization",
    "NotificationEvent",
    "Organization",
    "OrganizationTokenWallet",
    "PaymentGatewayOperation",
    "RateLimitCounter",
    "ReconciliationMismatch",
    "ReconciliationRun",
    "SignInAttempt",
    "SpendLimit",
    "SpendLimitUsage",
    "StripeCustomer",
    "StripeEvent",
    "StripePaymentAction",
    "StripePaymentMethod",
    "TokenAuditLog",
    "TokenBalanceHistory",
    "TokenDispute",
    "TokenHold",
    "TokenLot",
    "TokenPackage",
    "TokenPurchase",
    "TokenSubscription",
    "TokenUsageForecast",
    "User",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
]
