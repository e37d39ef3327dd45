"""The signal-with-starts the engine sends from outside a workflow, through the one workflow
client: a trigger to a wallet's AutoTopupWorkflow (from the outbox relay, the safety-net job and a
policy change) and a wake-up to the outbox relay (from a spend, the balance job and the worker's
start). Each starts the workflow when no run is open."""

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from tokenbill.workflow_client import WorkflowClient
from workflows.auto_topup import AutoTopupWorkflow
from workflows.auto_topup_types import (
    TRIGGER_SIGNAL,
    AutoTopupInput,
    TopupTrigger,
    auto_topup_workflow_id,
)
from workflows.outbox_relay import OutboxRelayWorkflow
from workflows.outbox_types import OUTBOX_RELAY_WORKFLOW_ID, WAKE_SIGNAL, OutboxRelayInput
from workflows.search_attributes import ORGANIZATION_ID


async def signal_auto_topup(
    workflows: WorkflowClient, *, wallet_id: int, organization_id: int, trigger: TopupTrigger
) -> None:
    """Deliver the trigger to the wallet's workflow, starting it when none runs."""
    await workflows.signal_with_start(
        AutoTopupWorkflow.run,
        AutoTopupInput(wallet_id=wallet_id, organization_id=organization_id),
        workflow_id=auto_topup_workflow_id(wallet_id),
        signal=TRIGGER_SIGNAL,
        signal_arguments=[trigger],
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORGANIZATION_ID, str(organization_id))]
        ),
    )


async def wake_outbox_relay(
    workflows: WorkflowClient, *, workflow_id: str = OUTBOX_RELAY_WORKFLOW_ID
) -> None:
    """Wake the outbox relay, or start it when none runs."""
    await workflows.signal_with_start(
        OutboxRelayWorkflow.run, OutboxRelayInput(), workflow_id=workflow_id, signal=WAKE_SIGNAL
    )
