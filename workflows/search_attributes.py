"""The search attributes every tokenbill workflow may carry, registered on the server at start."""

from temporalio.common import SearchAttributeKey

ORGANIZATION_ID = SearchAttributeKey.for_keyword("OrganizationId")
PURCHASE_REFERENCE = SearchAttributeKey.for_keyword("PurchaseReference")
SUBSCRIPTION_STATUS = SearchAttributeKey.for_keyword("SubscriptionStatus")
BILLING_STATUS = SearchAttributeKey.for_keyword("BillingStatus")
NEXT_BILLING_DATE = SearchAttributeKey.for_datetime("NextBillingDate")

ALL_SEARCH_ATTRIBUTES = (
    ORGANIZATION_ID,
    PURCHASE_REFERENCE,
    SUBSCRIPTION_STATUS,
    BILLING_STATUS,
    NEXT_BILLING_DATE,
)
