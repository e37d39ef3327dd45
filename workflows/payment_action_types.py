"""A payment the customer must complete (3-D Secure, SCA): the contract between the charge
activity, the workflows that wait for it and whoever learns the outcome (Stripe's webhook).

The charge activity raises an ApplicationError of type PAYMENT_REQUIRES_ACTION whose first detail
is a PaymentAction (as a dict). The PurchaseWorkflow then waits (step "awaiting_customer") for
one of its signals, sent to the workflow id stored with the action (stripe_payment_actions):
- PAYMENT_CONFIRMED_SIGNAL ("payment_confirmed") with a PaymentConfirmation: the customer
  completed it (payment_intent.succeeded); the workflow charges again with the same key, which
  answers the captured charge;
- PAYMENT_FAILED_SIGNAL ("payment_failed") with a PaymentFailure (payment_intent.payment_failed):
  the purchase fails with the reason.
Without either within CUSTOMER_ACTION_TIMEOUT the workflow asks the gateway once more, then fails.
"""

from datetime import timedelta

from pydantic import BaseModel

PAYMENT_REQUIRES_ACTION = "PaymentRequiresAction"
PAYMENT_CONFIRMED_SIGNAL = "payment_confirmed"
PAYMENT_FAILED_SIGNAL = "payment_failed"
PAYMENT_ACTION_QUERY = "payment_action"
# workflow.patched name guarding the wait in workflows released before it (tag v0.1.0).
REQUIRES_ACTION_PATCH = "payment-requires-action"
CUSTOMER_ACTION_TIMEOUT = timedelta(hours=23)


class PaymentAction(BaseModel):
    """What the customer must do: confirm `payment_reference` (a PaymentIntent) with the client
    secret in a browser (Stripe.js), or open `action_url` (3-D Secure page)."""

    payment_reference: str
    client_secret: str | None = None
    action_url: str | None = None


class PaymentConfirmation(BaseModel):
    payment_reference: str


class PaymentFailure(BaseModel):
    payment_reference: str
    reason: str = "The customer's authentication failed."
