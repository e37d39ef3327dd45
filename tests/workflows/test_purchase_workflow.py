"""PurchaseWorkflow on a real Temporal dev server and PostgreSQL: money and tokens move once."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, Worker

from activities.payments.factory import build_gateway
from activities.payments.sandbox import SandboxGateway
from activities.purchases import PurchaseActivities
from db import ledger
from tests.history_recording import record_histories
from tests.payment_gateways import CardTable, ProviderBook
from tests.purchase_helpers import Maker, create_package, insert_purchase, run_purchase
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.settings import Settings
from worker.main import build_worker
from worker.registry import WORKFLOWS
from workflows.converter import DATA_CONVERTER
from workflows.payment_action_types import (
    PAYMENT_ACTION_QUERY,
    PAYMENT_CONFIRMED_SIGNAL,
    PAYMENT_FAILED_SIGNAL,
    PaymentAction,
    PaymentConfirmation,
    PaymentFailure,
)
from workflows.purchase_activity_types import (
    CHARGE_PAYMENT,
    COMPLETE_PURCHASE,
    CREDIT_TOKENS,
    FAIL_PURCHASE,
    ISSUE_INVOICE,
    MARK_PROCESSING,
    REFUND_PURCHASE,
    STATUS_QUERY,
    CompletePurchaseInput,
    CreditOutcome,
    FailPurchaseInput,
    InvoiceOutcome,
    StatusOutcome,
)
from workflows.purchase_types import (
    PURCHASE_WORKFLOW,
    PurchaseInput,
    PurchaseResult,
    purchase_workflow_id,
)

# --- Arranging -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def package_id(session_maker: Maker) -> int:
    return await create_package(session_maker)


@pytest.fixture(scope="module")
async def task_queue(
    temporal_client: Client, settings: Settings, session_maker: Maker
) -> AsyncIterator[str]:
    """An in-process worker with every activity, on a queue of this module's own."""
    queue = f"purchase-tests-{uuid.uuid4().hex}"
    async with build_worker(temporal_client, settings, session_maker, task_queue=queue):
        yield queue


@pytest.fixture
async def gateway_queue(
    temporal_client: Client, gateway_settings: Settings, session_maker: Maker
) -> AsyncIterator[str]:
    """A worker charging through the gateway of this run (sandbox or Stripe), on its own queue."""
    queue = f"purchase-tests-{uuid.uuid4().hex}"
    async with build_worker(temporal_client, gateway_settings, session_maker, task_queue=queue):
        yield queue


def serve_with(
    client: Client,
    settings: Settings,
    session_maker: Maker,
    replace: str,
    replacement: Callable[..., Any],
) -> tuple[str, Worker]:
    """A worker whose activity named `replace` is swapped for `replacement`; (queue, worker)."""
    real = PurchaseActivities(session_maker, build_gateway(settings, session_maker), settings)
    names: dict[Callable[..., Any], str] = {
        real.mark_processing: MARK_PROCESSING,
        real.charge_payment: CHARGE_PAYMENT,
        real.credit_tokens: CREDIT_TOKENS,
        real.issue_invoice: ISSUE_INVOICE,
        real.complete: COMPLETE_PURCHASE,
        real.fail: FAIL_PURCHASE,
        real.refund: REFUND_PURCHASE,
    }
    kept: Sequence[Callable[..., Any]] = [fn for fn, name in names.items() if name != replace]
    queue = f"purchase-tests-{uuid.uuid4().hex}"
    worker = build_worker(
        client, settings, session_maker, task_queue=queue, activities=[*kept, replacement]
    )
    return queue, worker


@activity.defn(name=ISSUE_INVOICE)
async def invoicing_down(purchase: PurchaseInput) -> InvoiceOutcome:
    raise ApplicationError("invoicing service is down", type="InvoicingDown", non_retryable=True)


@activity.defn(name=CREDIT_TOKENS)
async def ledger_down(purchase: PurchaseInput) -> CreditOutcome:
    raise ApplicationError("ledger is closed", type="LedgerDown", non_retryable=True)


# --- Reading what happened -----------------------------------------------------------------------


async def purchase_row(session_maker: Maker, reference: str) -> Any:
    async with session_maker() as session:
        return (
            await session.execute(
                text("SELECT * FROM token_purchases WHERE purchase_reference_id = :r"),
                {"r": reference},
            )
        ).one()


async def wallet_balance(session_maker: Maker, wallet_id: int) -> tuple[Decimal, Decimal]:
    """The cached balance and the sum of the wallet's ledger entries."""
    async with session_maker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT w.current_balance, (SELECT coalesce(sum(e.amount), 0) "
                    "FROM ledger_entries e WHERE e.account_id = w.ledger_account_id) "
                    "FROM organization_token_wallets w WHERE w.id = :w"
                ),
                {"w": wallet_id},
            )
        ).one()
        return Decimal(row[0]), Decimal(row[1])


async def ledger_kinds(session_maker: Maker, reference: str) -> list[tuple[str, Decimal]]:
    async with session_maker() as session:
        rows = await session.execute(
            text("SELECT kind, amount FROM ledger_transactions WHERE reference = :r ORDER BY id"),
            {"r": reference},
        )
        return [(row.kind, Decimal(row.amount)) for row in rows]


async def gateway_operations(session_maker: Maker, reference: str) -> list[tuple[Any, ...]]:
    async with session_maker() as session:
        rows = await session.execute(
            text(
                "SELECT operation, status, amount, attempts FROM payment_gateway_operations "
                "WHERE idempotency_key LIKE :k ORDER BY id"
            ),
            {"k": f"purchase:{reference}:%"},
        )
        return [tuple(row) for row in rows]


async def audit_actions(session_maker: Maker, reference: str) -> list[str]:
    async with session_maker() as session:
        rows = await session.scalars(
            text(
                "SELECT action FROM token_audit_logs WHERE target_type = 'token_purchase' "
                "AND target_id = :r ORDER BY id"
            ),
            {"r": reference},
        )
        return list(rows)


async def invoice_of(session_maker: Maker, reference: str) -> Any:
    async with session_maker() as session:
        return (
            await session.execute(
                text("SELECT * FROM invoices WHERE purchase_reference_id = :r"), {"r": reference}
            )
        ).one_or_none()


# --- Behaviour ------------------------------------------------------------------------------------


async def test_purchase_completes_with_exact_tokens_paid_invoice_and_audit(
    temporal_client, gateway_queue, session_maker, make_organization, package_id,
    cards: CardTable, provider_book: ProviderBook,
):  # fmt: skip
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, cards.ok)
    result = await run_purchase(temporal_client, gateway_queue, purchase)

    assert result.status == "completed" and result.failure_reason is None
    assert result.balance_after == Decimal("500")
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("500"),) * 2
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert row.status == "completed"
    assert row.created_at <= row.processing_at <= row.completed_at
    assert row.failed_at is None and row.refunded_at is None
    assert row.gateway_charge_id.startswith(cards.charge_prefix)
    invoice = await invoice_of(session_maker, purchase.purchase_reference_id)
    assert row.invoice_id == invoice.id and result.invoice_number == invoice.invoice_number
    assert invoice.invoice_number.startswith(f"TOK-{datetime.now(UTC).year}-")
    assert (invoice.status, invoice.subtotal, invoice.tax_amount, invoice.total) == (
        "paid", Decimal("250.00"), Decimal("40.00"), Decimal("290.00"),
    )  # fmt: skip
    assert invoice.paid_at is not None
    assert invoice.due_date == invoice.issue_date + timedelta(days=30)
    assert await provider_book(f"purchase:{purchase.purchase_reference_id}:") == [
        ("charge", "succeeded", Decimal("290.00"))
    ]
    assert await audit_actions(session_maker, purchase.purchase_reference_id) == [
        "purchase.charge", "purchase.credit", "purchase.invoice", "purchase.complete",
    ]  # fmt: skip
    handle = temporal_client.get_workflow_handle(
        purchase_workflow_id(purchase.purchase_reference_id)
    )
    assert await handle.query(STATUS_QUERY) == "completed"


async def test_purchase_is_found_by_its_organization_in_temporal(
    temporal_client, task_queue, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")
    await run_purchase(temporal_client, task_queue, purchase)
    query = f"OrganizationId = '{org}' AND PurchaseReference = '{purchase.purchase_reference_id}'"
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [wf.id async for wf in temporal_client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == [purchase_workflow_id(purchase.purchase_reference_id)]


async def test_declined_card_leaves_wallet_untouched(
    temporal_client, gateway_queue, session_maker, make_organization, package_id,
    cards: CardTable,
):  # fmt: skip
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, cards.soft_decline)
    result = await run_purchase(temporal_client, gateway_queue, purchase)

    assert result.status == "failed"
    assert result.failure_reason is not None and "card_declined" in result.failure_reason
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert (row.status, row.failure_reason) == ("failed", result.failure_reason)
    assert row.failed_at is not None and row.completed_at is None
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("0"),) * 2
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == []
    assert await invoice_of(session_maker, purchase.purchase_reference_id) is None
    assert await audit_actions(session_maker, purchase.purchase_reference_id) == ["purchase.fail"]


async def test_timeout_once_card_completes_with_one_charge_and_one_credit(
    temporal_client, gateway_queue, session_maker, make_organization, package_id,
    cards: CardTable, provider_book: ProviderBook,
):  # fmt: skip
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, cards.timeout_once)
    result = await run_purchase(temporal_client, gateway_queue, purchase)

    assert result.status == "completed"
    assert await provider_book(f"purchase:{purchase.purchase_reference_id}:") == [
        ("charge", "succeeded", Decimal("290.00"))
    ]
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == [
        ("purchase", Decimal("500"))
    ]
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("500"),) * 2
    assert (await audit_actions(session_maker, purchase.purchase_reference_id)).count(
        "purchase.charge"
    ) == 1


async def test_invoicing_failing_for_good_refunds_and_reverses_the_tokens(
    temporal_client, gateway_settings, session_maker, make_organization, package_id,
    payment_gateway_kind, cards: CardTable, provider_book: ProviderBook,
):  # fmt: skip
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, cards.ok)
    queue, worker = serve_with(
        temporal_client, gateway_settings, session_maker, ISSUE_INVOICE, invoicing_down
    )
    async with worker:
        result = await run_purchase(temporal_client, queue, purchase)
    if payment_gateway_kind == "sandbox":
        await record_histories(
            temporal_client,
            purchase_workflow_id(purchase.purchase_reference_id),
            "purchase-refunded",
        )

    assert result.status == "refunded"
    assert result.failure_reason == "invoicing service is down"
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert row.status == "refunded" and row.refunded_at is not None
    assert row.gateway_refund_id.startswith("re_")
    assert row.completed_at is None and row.invoice_id is None
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == [
        ("purchase", Decimal("500")),
        ("reversal", Decimal("500")),
    ]
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("0"),) * 2
    assert await provider_book(f"purchase:{purchase.purchase_reference_id}:") == [
        ("charge", "succeeded", Decimal("290.00")),
        ("refund", "succeeded", Decimal("290.00")),
    ]
    assert await invoice_of(session_maker, purchase.purchase_reference_id) is None
    assert await audit_actions(session_maker, purchase.purchase_reference_id) == [
        "purchase.charge", "purchase.credit", "purchase.reverse", "purchase.refund",
    ]  # fmt: skip


async def test_crediting_failing_for_good_refunds_without_touching_the_wallet(
    temporal_client, settings, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")
    queue, worker = serve_with(temporal_client, settings, session_maker, CREDIT_TOKENS, ledger_down)
    async with worker:
        result = await run_purchase(temporal_client, queue, purchase)

    assert (result.status, result.failure_reason) == ("refunded", "ledger is closed")
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == []
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("0"),) * 2
    assert [op[:2] for op in await gateway_operations(
        session_maker, purchase.purchase_reference_id
    )] == [("charge", "succeeded"), ("refund", "succeeded")]  # fmt: skip


async def test_second_run_for_a_finished_purchase_moves_nothing(
    temporal_client, task_queue, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")
    await run_purchase(temporal_client, task_queue, purchase)
    rerun = await run_purchase(
        temporal_client, task_queue, purchase, workflow_id=f"rerun-{uuid.uuid4().hex}"
    )
    assert rerun.status == "completed"
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == [
        ("purchase", Decimal("100"))
    ]
    assert (await gateway_operations(session_maker, purchase.purchase_reference_id))[0][3] == 1


async def test_terminal_status_is_never_moved_backwards(
    settings, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")
    activities = PurchaseActivities(session_maker, SandboxGateway(session_maker), settings)
    env = ActivityEnvironment()
    await env.run(activities.mark_processing, purchase)
    charge = await env.run(activities.charge_payment, purchase)
    invoice = await env.run(activities.issue_invoice, purchase)
    done = CompletePurchaseInput(purchase=purchase, charge=charge, invoice=invoice)
    assert await env.run(activities.complete, done) == StatusOutcome(status="completed")
    late_failure = FailPurchaseInput(purchase=purchase, reason="late")
    assert await env.run(activities.fail, late_failure) == StatusOutcome(status="completed")
    assert await env.run(activities.mark_processing, purchase) == StatusOutcome(status="completed")
    assert await env.run(activities.complete, done) == StatusOutcome(status="completed")
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert (row.status, row.failure_reason, row.failed_at) == ("completed", None, None)
    assert (await audit_actions(session_maker, purchase.purchase_reference_id)).count(
        "purchase.complete"
    ) == 1


async def test_credit_activity_run_twice_with_same_input_credits_once(
    settings, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id)
    activities = PurchaseActivities(session_maker, SandboxGateway(session_maker), settings)
    env = ActivityEnvironment()
    first = await env.run(activities.credit_tokens, purchase)
    second = await env.run(activities.credit_tokens, purchase)
    racing = await asyncio.gather(*(env.run(activities.credit_tokens, purchase) for _ in range(5)))

    assert {r.transaction_id for r in [first, second, *racing]} == {first.transaction_id}
    assert first.balance_after == Decimal("500")
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("500"),) * 2
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == [
        ("purchase", Decimal("500"))
    ]
    assert await audit_actions(session_maker, purchase.purchase_reference_id) == ["purchase.credit"]


async def test_credit_sets_lot_expiry_when_token_expiration_is_enabled(
    settings, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")
    expiring = settings.model_copy(
        update={"token_expiration_enabled": True, "token_expiration_days": 90}
    )
    activities = PurchaseActivities(session_maker, SandboxGateway(session_maker), expiring)
    credited = await ActivityEnvironment().run(activities.credit_tokens, purchase)
    async with session_maker() as session:
        expires_at = await session.scalar(
            text("SELECT expires_at FROM token_lots WHERE transaction_id = :t"),
            {"t": credited.transaction_id},
        )
    assert expires_at is not None
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=1)


async def test_twenty_concurrent_purchases_leave_the_exact_balance(
    temporal_client, task_queue, session_maker, make_organization, package_id
):
    org = await make_organization()
    tokens = ["100", "500", "2000", "5000", "0.5"]
    methods = ["pm_card_ok"] * 3 + ["pm_card_timeout_once", "pm_card_declined"]
    purchases = [
        await insert_purchase(session_maker, org, package_id, methods[i % 5], tokens[i % 5])
        for i in range(20)
    ]
    results = await asyncio.gather(
        *(run_purchase(temporal_client, task_queue, p) for p in purchases)
    )

    completed = [p for p, r in zip(purchases, results, strict=True) if r.status == "completed"]
    assert len(completed) == 16
    assert {r.status for r in results} == {"completed", "failed"}
    expected = sum((p.token_quantity for p in completed), Decimal("0"))
    assert expected == Decimal("30400")  # 4 x (100 + 500 + 2000 + 5000)
    wallet = purchases[0].wallet_id
    assert await wallet_balance(session_maker, wallet) == (expected, expected)
    numbers = [r.invoice_number for r in results if r.invoice_number is not None]
    assert len(set(numbers)) == 16
    async with session_maker() as session:
        credits = await session.scalar(
            text("SELECT count(*) FROM ledger_transactions WHERE wallet_id = :w"), {"w": wallet}
        )
    assert credits == 16


async def test_tokens_spent_before_a_refund_leave_the_charge_for_review(
    temporal_client, settings, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")

    @activity.defn(name=ISSUE_INVOICE)
    async def spend_then_fail(purchase: PurchaseInput) -> InvoiceOutcome:
        async with session_maker() as session, session.begin():
            await ledger.debit(
                session,
                wallet_id=purchase.wallet_id,
                amount=Decimal("60"),
                idempotency_key=f"test:{purchase.purchase_reference_id}:spend",
            )
        raise ApplicationError(
            "invoicing service is down", type="InvoicingDown", non_retryable=True
        )

    queue, worker = serve_with(
        temporal_client, settings, session_maker, ISSUE_INVOICE, spend_then_fail
    )
    async with worker:
        result = await run_purchase(temporal_client, queue, purchase)

    assert result.status == "failed"
    assert result.failure_reason is not None and "needs review" in result.failure_reason
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert (row.status, row.refunded_at, row.gateway_refund_id) == ("failed", None, None)
    assert row.review_reason == result.failure_reason and row.review_requested_at is not None
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == [
        ("purchase", Decimal("100"))
    ]
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("40"),) * 2
    assert [op[0] for op in await gateway_operations(
        session_maker, purchase.purchase_reference_id
    )] == ["charge"]  # fmt: skip


async def test_tokens_held_before_a_refund_are_taken_back_and_the_hold_withdrawn(
    temporal_client, settings, session_maker, make_organization, package_id
):
    """Held tokens are not spent: the refund goes ahead, its reversal releases the hold (0024)
    instead of failing on the wallet's non-negative check and retrying for ever."""
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")

    @activity.defn(name=ISSUE_INVOICE)
    async def hold_then_fail(purchase: PurchaseInput) -> InvoiceOutcome:
        async with session_maker() as session, session.begin():
            await session.execute(
                text(
                    "SELECT status FROM ledger_hold(:key, :org, 60, now() + interval '1 hour',"
                    " 'ttl:test', NULL, NULL, 'system', 'tests', NULL, NULL)"
                ),
                {"key": f"test:{purchase.purchase_reference_id}:hold", "org": org},
            )
        raise ApplicationError(
            "invoicing service is down", type="InvoicingDown", non_retryable=True
        )

    queue, worker = serve_with(
        temporal_client, settings, session_maker, ISSUE_INVOICE, hold_then_fail
    )
    async with worker:
        result = await run_purchase(temporal_client, queue, purchase)

    assert result.status == "refunded"
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert row.review_reason is None
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("0"),) * 2
    async with session_maker() as session:
        hold = (
            await session.execute(
                text(
                    "SELECT h.status, w.held_balance FROM token_holds h"
                    " JOIN organization_token_wallets w ON w.id = h.wallet_id"
                    " WHERE h.organization_id = :o"
                ),
                {"o": org},
            )
        ).one()
    assert (hold.status, hold.held_balance) == ("released", Decimal("0"))


async def test_refused_refund_leaves_the_tokens_credited_and_flags_the_purchase_for_finance(
    temporal_client, gateway_settings, session_maker, make_organization, package_id,
    cards: CardTable, provider_book: ProviderBook,
):  # fmt: skip
    org = await make_organization()
    purchase = await insert_purchase(
        session_maker, org, package_id, cards.refund_refused, tokens="100"
    )
    queue, worker = serve_with(
        temporal_client, gateway_settings, session_maker, ISSUE_INVOICE, invoicing_down
    )
    async with worker:
        result = await run_purchase(temporal_client, queue, purchase)

    assert result.status == "failed"
    assert result.failure_reason is not None and "charge_disputed" in result.failure_reason
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert (row.status, row.gateway_refund_id) == ("failed", None)
    assert row.review_reason == result.failure_reason and row.review_requested_at is not None
    assert await ledger_kinds(session_maker, purchase.purchase_reference_id) == [
        ("purchase", Decimal("100"))
    ]
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("100"),) * 2
    assert [op[:2] for op in await provider_book(
        f"purchase:{purchase.purchase_reference_id}:"
    )] == [("charge", "succeeded")]  # fmt: skip


async def test_reversal_takes_the_refunded_purchases_own_lot(
    temporal_client, settings, session_maker, make_organization, package_id
):
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, tokens="100")
    # An earlier purchase's tokens expire first, so a first-to-expire debit would draw them.
    async with session_maker() as session, session.begin():
        await ledger.credit(
            session,
            wallet_id=purchase.wallet_id,
            amount=Decimal("70"),
            idempotency_key=f"test:{purchase.purchase_reference_id}:earlier",
            expires_at=datetime(2099, 1, 31, tzinfo=UTC),
        )
    queue, worker = serve_with(
        temporal_client, settings, session_maker, ISSUE_INVOICE, invoicing_down
    )
    async with worker:
        result = await run_purchase(temporal_client, queue, purchase)

    assert result.status == "refunded"
    async with session_maker() as session:
        lots = (
            await session.execute(
                text(
                    "SELECT original_amount, remaining_amount FROM token_lots "
                    "WHERE wallet_id = :w ORDER BY id"
                ),
                {"w": purchase.wallet_id},
            )
        ).all()
    assert [(Decimal(a), Decimal(b)) for a, b in lots] == [
        (Decimal("70"), Decimal("70")),
        (Decimal("100"), Decimal("0")),
    ]
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("70"),) * 2
    row = await purchase_row(session_maker, purchase.purchase_reference_id)
    assert row.review_reason is None


async def test_purchase_histories_replay_deterministically(
    temporal_client, task_queue, session_maker, make_organization, package_id
):
    org = await make_organization()
    methods = {
        "pm_card_ok": "purchase-completed",
        "pm_card_declined": "purchase-declined",
        "pm_card_timeout_once": "purchase-timeout-once",
    }
    purchases = [
        await insert_purchase(session_maker, org, package_id, method, "100") for method in methods
    ]
    for purchase in purchases:
        await run_purchase(temporal_client, task_queue, purchase)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    for purchase, scenario in zip(purchases, methods.values(), strict=True):
        workflow_id = purchase_workflow_id(purchase.purchase_reference_id)
        handle = temporal_client.get_workflow_handle(workflow_id)
        replayed = await replayer.replay_workflow(await handle.fetch_history())
        assert replayed.replay_failure is None
        await record_histories(temporal_client, workflow_id, scenario)


# --- The customer's authentication (3-D Secure), on Stripe --------------------------------------


async def start_purchase(client: Client, queue: str, purchase: PurchaseInput) -> Any:
    return await client.start_workflow(
        PURCHASE_WORKFLOW, purchase, id=purchase_workflow_id(purchase.purchase_reference_id),
        task_queue=queue, result_type=PurchaseResult, execution_timeout=timedelta(minutes=2),
    )  # fmt: skip


async def waiting_action(handle: Any) -> PaymentAction:
    for _ in range(200):
        if await handle.query(STATUS_QUERY) == "awaiting_customer":
            action: PaymentAction | None = await handle.query(
                PAYMENT_ACTION_QUERY, result_type=PaymentAction
            )
            assert action is not None
            return action
        await asyncio.sleep(0.1)
    raise AssertionError("the purchase never waited for the customer")


@pytest.mark.parametrize("payment_gateway_kind", ["stripe"])
async def test_purchase_needing_authentication_waits_then_completes_when_the_customer_confirms(
    temporal_client, gateway_queue, session_maker, make_organization, package_id,
    cards: CardTable, provider_book: ProviderBook,
):  # fmt: skip
    assert cards.requires_action is not None
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, cards.requires_action)
    handle = await start_purchase(temporal_client, gateway_queue, purchase)
    action = await waiting_action(handle)
    assert action.payment_reference.startswith("pi_") and action.client_secret
    async with session_maker() as session:
        kept = (
            await session.execute(
                text("SELECT status, workflow_id FROM stripe_payment_actions "
                     "WHERE organization_id = :o AND payment_intent_id = :p"),
                {"o": org, "p": action.payment_reference},
            )
        ).one()  # fmt: skip
    assert tuple(kept) == ("requires_action", handle.id)
    assert (await purchase_row(session_maker, purchase.purchase_reference_id)).status == (
        "processing"
    )
    assert action.action_url is not None
    async with httpx.AsyncClient() as browser:  # the customer completes 3-D Secure
        (await browser.post(action.action_url)).raise_for_status()
    await handle.signal(
        PAYMENT_CONFIRMED_SIGNAL, PaymentConfirmation(payment_reference=action.payment_reference)
    )
    result = await handle.result()
    await record_histories(temporal_client, handle.id, "purchase-requires-action")
    assert result.status == "completed"
    assert (
        await purchase_row(session_maker, purchase.purchase_reference_id)
    ).gateway_charge_id == (action.payment_reference)
    assert await provider_book(f"purchase:{purchase.purchase_reference_id}:") == [
        ("charge", "succeeded", Decimal("290.00"))
    ]
    async with session_maker() as session:
        resolved = await session.scalar(
            text("SELECT status FROM stripe_payment_actions WHERE payment_intent_id = :p"),
            {"p": action.payment_reference},
        )
    assert resolved == "succeeded"
    assert (await audit_actions(session_maker, purchase.purchase_reference_id))[:2] == [
        "purchase.requires_action", "purchase.charge",
    ]  # fmt: skip


@pytest.mark.parametrize("payment_gateway_kind", ["stripe"])
async def test_purchase_fails_when_the_customers_authentication_fails(
    temporal_client, gateway_queue, session_maker, make_organization, package_id,
    cards: CardTable, stripe_standin: StandinServer,
):  # fmt: skip
    assert cards.requires_action is not None
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, cards.requires_action)
    handle = await start_purchase(temporal_client, gateway_queue, purchase)
    action = await waiting_action(handle)
    await handle.signal(
        PAYMENT_FAILED_SIGNAL,
        PaymentFailure(payment_reference=action.payment_reference, reason="3-D Secure failed"),
    )
    result = await handle.result()
    assert (result.status, result.failure_reason) == ("failed", "3-D Secure failed")
    assert await wallet_balance(session_maker, purchase.wallet_id) == (Decimal("0"),) * 2
    # Called off, so a late authentication can never capture money without tokens.
    assert stripe_standin.store.objects("payment_intent")[action.payment_reference]["status"] == (
        "canceled"
    )
    async with session_maker() as session:
        kept = await session.scalar(
            text("SELECT status FROM stripe_payment_actions WHERE payment_intent_id = :p"),
            {"p": action.payment_reference},
        )
    assert kept == "canceled"


@pytest.mark.parametrize("payment_gateway_kind", ["stripe"])
async def test_a_failure_signal_for_a_payment_that_succeeded_still_completes_the_purchase(
    temporal_client, gateway_queue, session_maker, make_organization, package_id,
    cards: CardTable, provider_book: ProviderBook,
):  # fmt: skip
    assert cards.requires_action is not None
    org = await make_organization()
    purchase = await insert_purchase(session_maker, org, package_id, cards.requires_action)
    handle = await start_purchase(temporal_client, gateway_queue, purchase)
    action = await waiting_action(handle)
    assert action.action_url is not None
    async with httpx.AsyncClient() as browser:
        (await browser.post(action.action_url)).raise_for_status()
    await handle.signal(
        PAYMENT_FAILED_SIGNAL, PaymentFailure(payment_reference=action.payment_reference)
    )
    result = await handle.result()
    assert result.status == "completed"
    assert await provider_book(f"purchase:{purchase.purchase_reference_id}:") == [
        ("charge", "succeeded", Decimal("290.00"))
    ]
