"""Letting a wallet's AutoTopupWorkflow re-read its policy, so a new schedule is armed at once.

The trigger is delivered by signal-with-start (the workflow may not be running), which the
WorkflowClient does not offer: this uses its Temporal client with the start helper the relay and
the check job share.
"""

import logging

from db.models import AutoTopupPolicy
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import signal_auto_topup
from workflows.auto_topup_types import TopupTrigger

logger = logging.getLogger("tokenbill.auto_topup.nudge")


async def nudge(workflows: WorkflowClient, policy: AutoTopupPolicy) -> None:
    """Best effort: the policy is saved, and the workflow re-reads it at every trigger anyway."""
    try:
        await signal_auto_topup(
            workflows,
            wallet_id=policy.wallet_id,
            organization_id=policy.organization_id,
            trigger=TopupTrigger(
                kind="policy_changed", key=f"policy-{policy.updated_at:%Y%m%dT%H%M%S%f}"
            ),
        )
    except Exception as exc:  # WorkflowUnavailable, or the SDK's RPCError or RuntimeError
        logger.warning("auto top-up of wallet %s not nudged: %s", policy.wallet_id, exc)
