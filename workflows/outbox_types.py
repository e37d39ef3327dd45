"""The contract of the outbox relay: who wakes it, and the events the spend path records."""

from pydantic import BaseModel

OUTBOX_RELAY_WORKFLOW = "OutboxRelayWorkflow"
OUTBOX_RELAY_WORKFLOW_ID = "notification-outbox-relay"
WAKE_SIGNAL = "wake"

# Event types written by the spend transaction (db layer) and delivered by the relay.
BALANCE_LOW = "wallet.balance_low"
BALANCE_CRITICAL = "wallet.balance_critical"
AUTO_TOPUP_THRESHOLD_CROSSED = "wallet.auto_topup_threshold_crossed"
SPEND_LIMIT_REACHED = "wallet.spend_limit_reached"  # a soft spend limit, once per period (0020)


class OutboxRelayInput(BaseModel):
    """Carried across continue-as-new; empty today, a model so fields can be added compatibly."""

    drained_total: int = 0
