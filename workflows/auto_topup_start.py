"""Signal-with-start of a wallet's AutoTopupWorkflow, for the relay, the jobs and the API."""

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from workflows.auto_topup_types import (
    AUTO_TOPUP_WORKFLOW,
    TRIGGER_SIGNAL,
    AutoTopupInput,
    TopupTrigger,
    auto_topup_workflow_id,
)
from workflows.search_attributes import ORGANIZATION_ID


async def signal_auto_topup(
    client: Client,
    *,
    task_queue: str,
    wallet_id: int,
    organization_id: int,
    trigger: TopupTrigger,
) -> None:
    """Deliver the trigger to the wallet's workflow, starting it when none runs."""
    await client.start_workflow(
        AUTO_TOPUP_WORKFLOW,
        AutoTopupInput(wallet_id=wallet_id, organization_id=organization_id),
        id=auto_topup_workflow_id(wallet_id),
        task_queue=task_queue,
        start_signal=TRIGGER_SIGNAL,
        start_signal_args=[trigger],
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORGANIZATION_ID, str(organization_id))]
        ),
    )
