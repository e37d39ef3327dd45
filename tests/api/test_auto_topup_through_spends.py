"""End to end through the consume route: concurrent spends across the policy threshold write
one crossing, the relay forwards it, and one automatic top-up restores the balance."""

import asyncio
import uuid
from decimal import Decimal

from temporalio.client import Client

from tests.api.helpers import Maker, MakeUser, api_client, count_rows
from tests.notification_helpers import (
    auto_topup_purchases,
    eventually,
    funded_wallet,
    notification_settings,
    notification_worker,
    set_policy,
)
from tests.purchase_helpers import create_package
from tests.subscription_helpers import wallet_balance
from tokenbill.settings import Settings
from workflows.auto_topup_types import auto_topup_workflow_id


async def test_burst_of_spends_across_the_threshold_gives_one_top_up(
    temporal_client: Client,
    settings: Settings,
    session_maker: Maker,
    make_user: MakeUser,
    make_organization,
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "150")
    await set_policy(session_maker, wallet_id, organization_id, threshold=Decimal(100),
                     package_id=await create_package(session_maker))  # fmt: skip
    spender = await make_user(organization_id, ("tokens.consume",))
    worker_settings = notification_settings(settings)
    async with notification_worker(temporal_client, worker_settings, session_maker) as worker:
        app_settings = worker_settings.model_copy(update={"temporal_task_queue": worker.task_queue})
        async with api_client(app_settings) as api:
            answers = await asyncio.gather(
                *(
                    api.post(
                        f"/api/tokens/wallet/{organization_id}/consume",
                        json={"amount": "2", "reason": "claim review"},
                        headers=spender.headers(**{"Idempotency-Key": uuid.uuid4().hex}),
                    )
                    for _ in range(30)
                )
            )
        purchases = await eventually(
            lambda: auto_topup_purchases(session_maker, wallet_id),
            lambda found: bool(found) and all(p.status == "completed" for p in found),
        )
        await temporal_client.get_workflow_handle(auto_topup_workflow_id(wallet_id)).terminate()

    assert [a.status_code for a in answers] == [201] * 30
    assert await count_rows(
        session_maker, "notification_events",
        "wallet_id = :w AND event_type = 'wallet.auto_topup_threshold_crossed'", w=wallet_id,
    ) == 1  # fmt: skip
    assert [(p.status, p.token_quantity) for p in purchases] == [("completed", Decimal(500))]
    assert await wallet_balance(session_maker, wallet_id) == Decimal(590)
