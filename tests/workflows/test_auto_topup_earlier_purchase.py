"""An auto top-up whose purchase an earlier run already started (issue 9, edge 7): the workflow
waits for that purchase and records its outcome, so the cooldown and the failure count hold."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.auto_topup import AutoTopupActivities
from tests.database_helpers import rows
from tests.history_recording import record_histories
from tests.notification_helpers import (
    eventually,
    funded_wallet,
    notification_settings,
    notification_worker,
    set_policy,
)
from tests.payment_gateways import CardTable, ProviderBook
from tests.purchase_helpers import Maker, create_package
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import signal_auto_topup
from worker.main import build_worker
from workflows.auto_topup_types import EvaluateInput, TopupTrigger, auto_topup_workflow_id
from workflows.purchase_types import PURCHASE_WORKFLOW, PurchaseInput, purchase_workflow_id
from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE


async def start_purchase_elsewhere(client: Client, queue: str, purchase: PurchaseInput) -> None:
    """Start the top-up's purchase as the earlier run's child would have been started."""
    await client.start_workflow(
        PURCHASE_WORKFLOW,
        purchase,
        id=purchase_workflow_id(purchase.purchase_reference_id),
        task_queue=queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORGANIZATION_ID, str(purchase.organization_id)),
                SearchAttributePair(PURCHASE_REFERENCE, purchase.purchase_reference_id),
            ]
        ),
    )


@pytest.mark.parametrize(("card", "outcome"), [("ok", "succeeded"), ("soft_decline", "failed")])
async def test_a_top_up_whose_purchase_was_already_running_records_its_outcome(
    temporal_client: Client,
    gateway_settings: Settings,
    session_maker: Maker,
    make_organization,
    cards: CardTable,
    payment_gateway_kind: str,
    provider_book: ProviderBook,
    card: str,
    outcome: str,
):
    payment_method = getattr(cards, card)
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "50")
    await set_policy(
        session_maker, wallet_id, organization_id, threshold=Decimal(100),
        package_id=await create_package(session_maker), payment_method=payment_method,
        cooldown=timedelta(hours=6),
    )  # fmt: skip
    worker_settings = notification_settings(
        gateway_settings, token_auto_topup_retry_backoff=timedelta(hours=1)
    )
    trigger = TopupTrigger(kind="threshold", key=f"event-earlier-{uuid.uuid4().hex}")
    earlier = await AutoTopupActivities(session_maker, worker_settings).evaluate(
        EvaluateInput(wallet_id=wallet_id, organization_id=organization_id, trigger=trigger)
    )
    assert earlier.purchase is not None and earlier.action == "purchase"
    elsewhere = f"earlier-purchase-{uuid.uuid4().hex}"
    await start_purchase_elsewhere(temporal_client, elsewhere, earlier.purchase)

    async with notification_worker(temporal_client, worker_settings, session_maker) as running:
        await signal_auto_topup(
            WorkflowClient.over(temporal_client, running.task_queue),
            wallet_id=wallet_id,
            organization_id=organization_id,
            trigger=trigger,
        )
        # The purchase runs only now, on the queue it was started on.
        async with build_worker(
            temporal_client, worker_settings, session_maker, task_queue=elsewhere
        ):
            recorded = await eventually(
                lambda: rows(
                    session_maker,
                    "SELECT t.outcome, p.consecutive_failures, p.last_topup_at "
                    "FROM auto_topups t JOIN auto_topup_policies p ON p.wallet_id = t.wallet_id "
                    "WHERE t.id = :id",
                    id=earlier.topup_id,
                ),
                lambda found: found[0].outcome != "purchasing",
                within=60.0,
            )
        handle = temporal_client.get_workflow_handle(auto_topup_workflow_id(wallet_id))
        await handle.terminate("test done")
    if outcome == "succeeded" and payment_gateway_kind == "sandbox":
        await record_histories(temporal_client, handle.id, "auto-topup-earlier-purchase")

    assert recorded[0].outcome == outcome
    charged = await provider_book(f"purchase:{earlier.purchase.purchase_reference_id}:")
    assert [status for _, status, _ in charged] == [
        "succeeded" if outcome == "succeeded" else "declined"
    ]
    if outcome == "succeeded":
        assert (recorded[0].consecutive_failures, recorded[0].last_topup_at is not None) == (
            0, True,
        )  # fmt: skip
    else:
        assert (recorded[0].consecutive_failures, recorded[0].last_topup_at) == (1, None)
