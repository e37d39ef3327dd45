"""SubscriptionWorkflow on the time-skipping server with the real activities and PostgreSQL:
months of billing in seconds, every charge, credit and invoice exact and counted once.

No test depends on the day it runs: each anchors its subscription on a chosen calendar day (month
ends, 29 February, the last day of a year) in a year ahead of the server's clock, and waits past
a timer's instant, never onto it.
"""

import asyncio
import calendar
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text
from temporalio import activity
from temporalio.activity import _Definition
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.enums.v1 import WorkflowExecutionStatus as ExecutionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest as DescribeRequest,
)
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionResponse as DescribeResponse,
)
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.subscription_repair import SubscriptionRepairActivities
from domain.durations import add_months
from tests.database_helpers import rows
from tests.history_recording import record_histories
from tests.payment_gateways import STANDIN_KEY, CardTable, ProviderBook
from tests.subscription_helpers import (
    Maker,
    create_package,
    credits,
    gateway_charges,
    insert_subscription,
    invoices,
    register_search_attributes,
    start_subscription,
    subscription_row,
    wallet_balance,
)
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.devstack.temporal import temporal_test_server_path
from tokenbill.settings import Settings
from worker.main import build_worker
from worker.registry import build_activities
from workflows.converter import DATA_CONVERTER
from workflows.job_types import JobCounts, JobInput, JobResult, WalletBatch
from workflows.payment_action_types import (
    PAYMENT_ACTION_QUERY,
    PAYMENT_CONFIRMED_SIGNAL,
    PaymentAction,
    PaymentConfirmation,
)
from workflows.search_attributes import SUBSCRIPTION_STATUS
from workflows.subscription_activity_types import (
    CHARGE_PERIOD,
    LIST_SUBSCRIPTIONS_TO_REPAIR,
    RepairBatch,
)
from workflows.subscription_billing_job import PROCESS_SUBSCRIPTION_BILLING_WORKFLOW
from workflows.subscription_types import (
    CANCEL_UPDATE,
    CHANGE_PACKAGE_UPDATE,
    PAUSE_UPDATE,
    RESUME_UPDATE,
    STATE_QUERY,
    UPDATE_PAYMENT_METHOD_UPDATE,
    CancelRequest,
    CancelResult,
    CancelWhen,
    ChangePackageRequest,
    ChangePackageResult,
    CommandResult,
    PackageTerms,
    PaymentMethodRequest,
    ResumeRequest,
    SubscriptionOutcome,
    SubscriptionRun,
    SubscriptionState,
    subscription_workflow_id,
)

MakeOrganization = Callable[..., Awaitable[int]]
T = TypeVar("T")


@pytest.fixture(scope="module")
async def queue(
    time_skipping_env: WorkflowEnvironment, settings: Settings, session_maker: Maker
) -> AsyncIterator[str]:
    """An in-process worker on the time-skipping server, with every real activity."""
    name = f"subscription-tests-{uuid.uuid4().hex}"
    await register_search_attributes(time_skipping_env.client)
    async with build_worker(time_skipping_env.client, settings, session_maker, task_queue=name):
        yield name


@pytest.fixture
async def gateway_queue(
    time_skipping_env: WorkflowEnvironment, gateway_settings: Settings, session_maker: Maker
) -> AsyncIterator[str]:
    """A worker charging through the gateway of this run (sandbox or Stripe), on its own queue."""
    name = f"subscription-tests-{uuid.uuid4().hex}"
    await register_search_attributes(time_skipping_env.client)
    async with build_worker(
        time_skipping_env.client, gateway_settings, session_maker, task_queue=name
    ):
        yield name


async def state(handle: WorkflowHandle[Any, Any]) -> SubscriptionState:
    result: SubscriptionState = await handle.query(STATE_QUERY, result_type=SubscriptionState)
    return result


async def cancel(
    handle: WorkflowHandle[Any, Any], when: CancelWhen = "immediately"
) -> CancelResult:
    result: CancelResult = await handle.execute_update(
        CANCEL_UPDATE, CancelRequest(when=when), result_type=CancelResult
    )
    return result


async def now(env: WorkflowEnvironment) -> datetime:
    return (await env.get_current_time()).astimezone(UTC)


async def update(handle: WorkflowHandle[Any, Any], name: str, argument: Any, result: type[T]) -> T:
    answer: T = await handle.execute_update(name, argument, result_type=result)
    return answer


async def started(
    env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    organization_id: int,
    *,
    payment_method: str = "pm_card_ok",
    anchor: datetime,
    terms: PackageTerms | None = None,
) -> tuple[SubscriptionRun, WorkflowHandle[Any, SubscriptionOutcome]]:
    """A subscription whose first period is charged at `anchor`."""
    terms = terms or await create_package(session_maker)
    run = await insert_subscription(
        session_maker, organization_id, terms, anchor=anchor, payment_method=payment_method
    )
    return run, await start_subscription(env.client, queue, run)


async def events(session_maker: Maker, subscription_id: int, event_type: str) -> list[Any]:
    return await rows(
        session_maker,
        "SELECT payload FROM notification_events WHERE event_type = :t "
        "AND (payload->>'subscription_id')::int = :s ORDER BY id",
        t=event_type,
        s=subscription_id,
    )


def workflow_id(run: SubscriptionRun) -> str:
    return subscription_workflow_id(run.subscription_id)


def near(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs(moment - expected) < timedelta(seconds=5)


def month_after(anchor: datetime, months: int) -> datetime:
    return add_months(anchor, months)


async def chosen_anchor(env: WorkflowEnvironment, month: int, day: int) -> datetime:
    """09:30 UTC on the first month/day (29 February: of a leap year) in a year after the
    server's, so every date the test computes is the same whatever day it runs."""
    year = (await now(env)).year + 1
    while True:
        try:
            return datetime(year, month, day, 9, 30, tzinfo=UTC)
        except ValueError:
            year += 1


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    await env.sleep(moment - await now(env))


async def test_a_year_of_monthly_cycles_charges_credits_and_invoices_twelve_times(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 12, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip

    # A day after the twelfth billing instant, weeks before the thirteenth.
    await sleep_until(env, month_after(anchor, 11) + timedelta(days=1))
    current = await state(handle)
    assert current.status == "active"
    assert current.current_period_start == month_after(run.anchor, 11)
    assert current.next_billing_date == month_after(run.anchor, 12)
    await cancel(handle)
    assert (await handle.result()).status == "cancelled"
    await record_histories(
        env.client, subscription_workflow_id(run.subscription_id), "monthly-cycles", 2
    )

    dates = [month_after(run.anchor, n) for n in range(12)]
    charges = await gateway_charges(session_maker, run.subscription_id)
    assert [c.idempotency_key for c in charges] == [
        f"subscription:{run.subscription_id}:{d.isoformat()}:charge" for d in dates
    ]
    assert {(c.status, c.amount, c.attempts) for c in charges} == {
        ("succeeded", Decimal("290.00"), 1)
    }
    assert [c.amount for c in await credits(session_maker, run.subscription_id)] == [
        Decimal("500")
    ] * 12
    billed = await invoices(session_maker, run.subscription_id)
    assert [(i.status, i.subtotal, i.tax_amount, i.total) for i in billed] == [
        ("paid", Decimal("250.00"), Decimal("40.00"), Decimal("290.00"))
    ] * 12
    assert [i.issue_date for i in billed] == [d.date() for d in dates]
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("6000")
    purchases = await rows(
        session_maker,
        "SELECT status, total_amount, invoice_id IS NOT NULL AS invoiced FROM token_purchases "
        "WHERE subscription_id = :s AND purchase_type = 'subscription'",
        s=run.subscription_id,
    )
    assert [tuple(p) for p in purchases] == [("completed", Decimal("290.00"), True)] * 12
    # Each period is announced three days before it is charged.
    reminders = await events(session_maker, run.subscription_id, "subscription.renewal_reminder")
    assert [r.payload["billing_date"] for r in reminders] == [d.isoformat() for d in dates]
    row = await subscription_row(session_maker, run.subscription_id)
    assert (row.status, row.cancelled_at is not None) == ("cancelled", True)


async def test_month_end_anchor_keeps_its_day_through_short_months(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 1, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip

    await sleep_until(env, anchor + timedelta(days=91))
    await cancel(handle)
    await handle.result()

    february = calendar.monthrange(anchor.year, 2)[1]
    assert [i.issue_date for i in await invoices(session_maker, run.subscription_id)] == [
        date(anchor.year, 1, 31),
        date(anchor.year, 2, february),
        date(anchor.year, 3, 31),
        date(anchor.year, 4, 30),
    ]


async def test_declined_charge_recovers_with_a_new_payment_method_and_credits_once(
    time_skipping_env: WorkflowEnvironment,
    gateway_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
    cards: CardTable,
    provider_book: ProviderBook,
    payment_gateway_kind: str,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 4, 30)
    run, handle = await started(env, gateway_queue, session_maker, await make_organization(),
                                payment_method=cards.soft_decline, anchor=anchor)  # fmt: skip

    await sleep_until(env, anchor + timedelta(days=1, hours=12))  # the failure, the day-1 retry
    past_due = await state(handle)
    assert past_due.status == "past_due"
    assert past_due.dunning_attempt == 2
    assert past_due.last_payment_error is not None and "declined" in past_due.last_payment_error
    # Grace and retries count from the first failure, a moment after the billing date.
    assert near(past_due.grace_period_ends_at, run.anchor + timedelta(days=7))
    assert near(past_due.next_billing_date, run.anchor + timedelta(days=3))
    description = await handle.describe()
    assert description.typed_search_attributes.get(SUBSCRIPTION_STATUS) == "past_due"
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("0")
    [open_invoice] = await invoices(session_maker, run.subscription_id)
    assert open_invoice.status == "open"
    assert open_invoice.due_date == (run.anchor + timedelta(days=7)).date()
    failures = await events(session_maker, run.subscription_id, "subscription.payment_failed")
    assert [f.payload["attempt"] for f in failures] == [1, 2]
    assert (await subscription_row(session_maker, run.subscription_id)).status == "past_due"

    new_method = PaymentMethodRequest(payment_method=cards.ok)
    answer = await update(handle, UPDATE_PAYMENT_METHOD_UPDATE, new_method, CommandResult)
    assert "retried now" in answer.message
    await env.sleep(timedelta(minutes=1))

    recovered = await state(handle)
    assert (recovered.status, recovered.dunning_attempt) == ("active", 0)
    assert recovered.next_billing_date == month_after(run.anchor, 1)
    [paid] = await invoices(session_maker, run.subscription_id)
    assert (paid.invoice_number, paid.status) == (open_invoice.invoice_number, "paid")
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    charges = await provider_book(f"subscription:{run.subscription_id}:")
    assert [(operation, status) for operation, status, _ in charges] == [
        ("charge", "declined"), ("charge", "declined"), ("charge", "succeeded"),
    ]  # fmt: skip
    periods = await rows(
        session_maker,
        "SELECT payment_method FROM token_purchases WHERE subscription_id = :s "
        "AND purchase_type = 'subscription'",
        s=run.subscription_id,
    )
    assert [p.payment_method for p in periods] == [cards.ok]
    await cancel(handle)
    if payment_gateway_kind == "sandbox":
        await record_histories(
            env.client, subscription_workflow_id(run.subscription_id), "dunning-recovery", 2
        )


async def test_unpaid_grace_period_suspends_then_resume_charges_a_fresh_period(
    time_skipping_env: WorkflowEnvironment,
    gateway_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
    cards: CardTable,
    provider_book: ProviderBook,
    payment_gateway_kind: str,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 11, 30)
    run, handle = await started(env, gateway_queue, session_maker, await make_organization(),
                                payment_method=cards.insufficient_funds,
                                anchor=anchor)  # fmt: skip

    await sleep_until(env, anchor + timedelta(days=20))
    suspended = await state(handle)
    assert suspended.status == "suspended"
    assert near(suspended.suspended_at, run.anchor + timedelta(days=7))
    failures = await events(session_maker, run.subscription_id, "subscription.payment_failed")
    assert [f.payload["attempt"] for f in failures] == [1, 2, 3, 4]  # at 0, +1, +3, +5 days
    assert len(await provider_book(f"subscription:{run.subscription_id}:")) == 4
    assert len(await events(session_maker, run.subscription_id, "subscription.suspended")) == 1
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("0")

    declined = await update(handle, RESUME_UPDATE, ResumeRequest(), CommandResult)
    assert declined.status == "suspended"
    resumed = await update(handle, RESUME_UPDATE,
                           ResumeRequest(payment_method=cards.ok), CommandResult)  # fmt: skip
    assert resumed.status == "active"
    resumed_at = (await state(handle)).current_period_start
    assert resumed_at is not None and resumed_at > run.anchor + timedelta(days=19)
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    statuses = [i.status for i in await invoices(session_maker, run.subscription_id)]
    assert statuses == ["void", "paid"]
    assert (await state(handle)).next_billing_date == month_after(resumed_at, 1)
    await cancel(handle)
    if payment_gateway_kind == "sandbox":
        await record_histories(
            env.client, subscription_workflow_id(run.subscription_id), "suspension-resume", 2
        )


async def test_suspended_subscription_is_cancelled_after_the_further_period(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 2, 28)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                payment_method="pm_card_declined", anchor=anchor)  # fmt: skip
    outcome = await handle.result()
    await record_histories(
        env.client, subscription_workflow_id(run.subscription_id), "suspension-cancel", 1
    )
    assert outcome.status == "cancelled"
    assert near(outcome.cancelled_at, run.anchor + timedelta(days=7 + 30))
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["void"]


async def test_hard_decline_stops_retrying_until_a_new_payment_method(
    time_skipping_env: WorkflowEnvironment,
    gateway_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
    cards: CardTable,
    provider_book: ProviderBook,
    payment_gateway_kind: str,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 6, 30)
    run, handle = await started(env, gateway_queue, session_maker, await make_organization(),
                                payment_method=cards.hard_decline, anchor=anchor)  # fmt: skip

    await sleep_until(env, anchor + timedelta(days=6))
    waiting = await state(handle)
    assert (waiting.status, waiting.dunning_attempt, waiting.next_billing_date) == (
        "past_due",
        1,
        None,
    )
    assert len(await provider_book(f"subscription:{run.subscription_id}:")) == 1

    await update(handle, UPDATE_PAYMENT_METHOD_UPDATE,
                 PaymentMethodRequest(payment_method=cards.ok), CommandResult)  # fmt: skip
    await env.sleep(timedelta(minutes=1))
    assert (await state(handle)).status == "active"
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    await cancel(handle)
    if payment_gateway_kind == "sandbox":
        await record_histories(
            env.client, subscription_workflow_id(run.subscription_id), "hard-decline", 2
        )


async def test_cancel_at_period_end_keeps_the_paid_period_and_charges_no_more(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 8, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=2))

    answer = await cancel(handle, "period_end")
    assert (answer.status, answer.cancel_at_period_end) == ("active", True)
    assert answer.effective_at == month_after(run.anchor, 1)
    assert (await state(handle)).next_billing_date is None
    outcome = await handle.result()
    await record_histories(
        env.client, subscription_workflow_id(run.subscription_id), "cancel-period-end", 2
    )
    assert near(outcome.cancelled_at, month_after(run.anchor, 1))
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")


async def test_cancel_immediately_ends_the_subscription_at_once(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 9, 30)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=2))

    answer = await cancel(handle)
    assert answer.status == "cancelled"
    assert (await handle.result()).cancelled_at == answer.effective_at
    assert (await subscription_row(session_maker, run.subscription_id)).status == "cancelled"
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1


async def test_paused_subscription_skips_billing_dates_and_resumes_on_the_anchor(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 2, 29)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=2))

    paused = await update(handle, PAUSE_UPDATE, None, CommandResult)
    assert (paused.status, paused.next_billing_date) == ("paused", None)
    # The billing dates of 29 March and 29 April pass while paused.
    await sleep_until(env, anchor + timedelta(days=72))
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1
    assert (await subscription_row(session_maker, run.subscription_id)).status == "paused"

    resumed = await update(handle, RESUME_UPDATE, ResumeRequest(), CommandResult)
    assert resumed.next_billing_date == month_after(run.anchor, 3)
    await sleep_until(env, month_after(run.anchor, 3) + timedelta(hours=1))
    keys = [c.idempotency_key for c in await gateway_charges(session_maker, run.subscription_id)]
    assert (
        keys[-1]
        == f"subscription:{run.subscription_id}:{month_after(run.anchor, 3).isoformat()}:charge"
    )
    assert len(keys) == 2
    await cancel(handle)
    await record_histories(
        env.client, subscription_workflow_id(run.subscription_id), "pause-resume", 3
    )


async def test_package_change_takes_effect_from_the_next_period(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 10, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=2))
    bigger = await create_package(session_maker, tokens="2000", name="Enterprise")

    answer = await update(handle, CHANGE_PACKAGE_UPDATE, ChangePackageRequest(terms=bigger),
                          ChangePackageResult)  # fmt: skip
    assert answer.effective_from == month_after(run.anchor, 1)
    assert "next period" in answer.message
    assert (await state(handle)).package_id == run.terms.package_id
    await sleep_until(env, month_after(anchor, 1) + timedelta(days=1))

    totals = [i.total for i in await invoices(session_maker, run.subscription_id)]
    assert totals == [Decimal("290.00"), Decimal("1160.00")]
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("2500")
    assert (await state(handle)).package_id == bigger.package_id
    await cancel(handle)
    await record_histories(
        env.client, subscription_workflow_id(run.subscription_id), "package-change", 3
    )


async def test_commands_on_a_cancelled_or_active_subscription_are_refused(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 3, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(handle, RESUME_UPDATE, ResumeRequest(), CommandResult)
    assert "Only a paused or suspended" in str(refused.value.cause)
    await cancel(handle, "period_end")
    await update(handle, CANCEL_UPDATE, CancelRequest(when="immediately"), CancelResult)
    await handle.result()
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1


@pytest.fixture
async def own_env(settings: Settings, session_maker: Maker) -> AsyncIterator[tuple[Any, str]]:
    """A time-skipping server of the test's own: after a job has started a child workflow, the
    shared server's later sleeps stall, so the safety net does not run on the shared one."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server_path()), data_converter=DATA_CONVERTER
    )
    try:
        await register_search_attributes(env.client)
        name = f"subscription-safety-net-{uuid.uuid4().hex}"
        async with build_worker(env.client, settings, session_maker, task_queue=name):
            yield env, name
    finally:
        await env.shutdown()


async def test_safety_net_restarts_a_missing_workflow_once(
    own_env: tuple[WorkflowEnvironment, str],
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env, queue = own_env
    anchor = await chosen_anchor(env, 5, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    await handle.terminate("lost in an incident")

    first_id = f"repair-{uuid.uuid4().hex}"
    # The job's cursor is the subscription id: start it at this test's subscription.
    first = await env.client.execute_workflow(
        PROCESS_SUBSCRIPTION_BILLING_WORKFLOW,
        JobInput(after_wallet_id=run.subscription_id - 1),
        id=first_id, task_queue=queue, result_type=JobResult,
    )  # fmt: skip
    second = await env.client.execute_workflow(
        PROCESS_SUBSCRIPTION_BILLING_WORKFLOW,
        JobInput(after_wallet_id=run.subscription_id - 1),
        id=f"repair-{uuid.uuid4().hex}", task_queue=queue, result_type=JobResult,
    )  # fmt: skip
    runs = (first.counts.details["restarted"], second.counts.details["restarted"])
    assert runs == (1, 0)
    assert (first.status, second.status) == ("succeeded", "succeeded")
    await record_histories(env.client, first_id, "safety-net")

    restarted = env.client.get_workflow_handle(
        subscription_workflow_id(run.subscription_id), result_type=SubscriptionOutcome
    )
    await env.sleep(timedelta(days=32))
    # The test server skips time whenever every workflow waits (also while the jobs above ran),
    # so the restarted workflow may be one or more periods on: each of them is billed once.
    period = (await state(restarted)).current_period_start
    periods = [month_after(run.anchor, n) for n in range(1, 6)]
    assert period in periods
    charges = await gateway_charges(session_maker, run.subscription_id)
    assert [c.status for c in charges] == ["succeeded"] * (periods.index(period) + 2)
    await cancel(restarted)


async def test_pausing_before_the_first_charge_still_bills_the_first_period_on_resume(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 7, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor - timedelta(days=2))
    await update(handle, PAUSE_UPDATE, None, CommandResult)
    await sleep_until(env, anchor + timedelta(days=3))
    assert await gateway_charges(session_maker, run.subscription_id) == []

    await update(handle, RESUME_UPDATE, ResumeRequest(), CommandResult)
    await env.sleep(timedelta(minutes=1))
    current = await state(handle)
    assert (current.current_period_start, current.next_billing_date) == (
        anchor,
        month_after(anchor, 1),
    )
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    await cancel(handle)


# --- Commands while a charge is in flight ---------------------------------------------------

SLOW_GATEWAY = timedelta(seconds=5)
RUNNING = ExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
COMPLETED = ExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED


@pytest.fixture(scope="module")
async def slow_queue(
    time_skipping_env: WorkflowEnvironment, settings: Settings, session_maker: Maker
) -> AsyncIterator[str]:
    """A worker whose sandbox gateway takes a few seconds per charge, so a command can land
    while a charge is in flight."""
    name = f"subscription-slow-gateway-{uuid.uuid4().hex}"
    slow = settings.model_copy(update={"sandbox_gateway_latency": SLOW_GATEWAY})
    await register_search_attributes(time_skipping_env.client)
    async with build_worker(time_skipping_env.client, slow, session_maker, task_queue=name):
        yield name


async def described(env: WorkflowEnvironment, workflow_id: str) -> DescribeResponse:
    """The server's description as it sent it (the test server's search attributes do not
    always decode in the client's richer describe)."""
    return await env.client.workflow_service.describe_workflow_execution(
        DescribeRequest(namespace=env.client.namespace,
                        execution=WorkflowExecution(workflow_id=workflow_id))
    )  # fmt: skip


async def charge_in_flight(env: WorkflowEnvironment, run: SubscriptionRun) -> None:
    """Wait until the period's charge activity has started (the gateway is still answering)."""
    for _ in range(1500):
        description = await described(env, workflow_id(run))
        if any(
            pending.activity_type.name == CHARGE_PERIOD
            and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for pending in description.pending_activities
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the charge never started")


async def test_pause_during_a_declined_first_charge_stops_every_further_attempt(
    time_skipping_env: WorkflowEnvironment,
    slow_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 1, 31)
    run, handle = await started(env, slow_queue, session_maker, await make_organization(),
                                payment_method="pm_card_declined", anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor)
    await charge_in_flight(env, run)

    paused = await update(handle, PAUSE_UPDATE, None, CommandResult)
    assert paused.status == "paused"
    # Past every dunning retry (days 1, 3, 5) and the end of grace (day 7).
    await sleep_until(env, anchor + timedelta(days=10))
    current = await state(handle)
    assert (current.status, current.dunning_attempt) == ("paused", 1)
    assert [c.status for c in await gateway_charges(session_maker, run.subscription_id)] == [
        "declined"
    ]
    assert (await subscription_row(session_maker, run.subscription_id)).status == "paused"
    [kept_open] = await invoices(session_maker, run.subscription_id)
    assert kept_open.status == "open"

    resumed = await update(handle, RESUME_UPDATE,
                           ResumeRequest(payment_method="pm_card_ok"), CommandResult)  # fmt: skip
    assert "retried now" in resumed.message
    await env.sleep(timedelta(minutes=1))
    current = await state(handle)
    assert (current.status, current.current_period_start) == ("active", anchor)
    assert current.next_billing_date == month_after(anchor, 1)
    [paid] = await invoices(session_maker, run.subscription_id)
    assert (paid.invoice_number, paid.status) == (kept_open.invoice_number, "paid")
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    await cancel(handle)


async def test_cancel_at_period_end_during_a_declined_first_charge_ends_without_dunning(
    time_skipping_env: WorkflowEnvironment,
    slow_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 12, 31)
    run, handle = await started(env, slow_queue, session_maker, await make_organization(),
                                payment_method="pm_card_declined", anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor)
    await charge_in_flight(env, run)

    answer = await cancel(handle, "period_end")
    assert answer.cancel_at_period_end
    assert answer.effective_at >= await now(env)
    assert answer.effective_at == month_after(anchor, 1)
    outcome = await handle.result()
    # Ended as soon as the in-flight charge came back declined, not at the period's end.
    assert anchor < outcome.cancelled_at < anchor + timedelta(minutes=1)
    assert [c.status for c in await gateway_charges(session_maker, run.subscription_id)] == [
        "declined"
    ]
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["void"]
    assert (await subscription_row(session_maker, run.subscription_id)).status == "cancelled"


async def test_pause_during_a_paid_first_charge_credits_the_period_and_charges_no_more(
    time_skipping_env: WorkflowEnvironment,
    slow_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 2, 29)
    run, handle = await started(env, slow_queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor)
    await charge_in_flight(env, run)

    await update(handle, PAUSE_UPDATE, None, CommandResult)
    await sleep_until(env, month_after(anchor, 2) + timedelta(days=1))
    current = await state(handle)
    assert (current.status, current.current_period_start) == ("paused", anchor)
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["paid"]
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    await cancel(handle)


# --- A run never revives a cancelled subscription --------------------------------------------


async def test_a_run_started_for_a_cancelled_row_ends_without_charging(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    """E.g. a start the API took for failed, cancelling the row, that reached the server."""
    env = time_skipping_env
    anchor = await chosen_anchor(env, 5, 31)
    terms = await create_package(session_maker)
    run = await insert_subscription(session_maker, await make_organization(), terms,
                                    anchor=anchor)  # fmt: skip
    await execute(session_maker,
                  "UPDATE token_subscriptions SET status = 'cancelled', cancelled_at = now() "
                  "WHERE id = :id", id=run.subscription_id)  # fmt: skip
    await start_subscription(env.client, queue, run)

    await sleep_until(env, month_after(anchor, 1) + timedelta(days=1))
    info = (await described(env, workflow_id(run))).workflow_execution_info
    assert info.status == COMPLETED
    assert await gateway_charges(session_maker, run.subscription_id) == []
    assert (await subscription_row(session_maker, run.subscription_id)).status == "cancelled"


async def execute(session_maker: Maker, sql: str, **params: Any) -> None:
    async with session_maker() as session, session.begin():
        await session.execute(text(sql), params)


# --- The safety net with a page read before the workflow changed ------------------------------


@pytest.fixture
async def stale_env(
    settings: Settings, session_maker: Maker
) -> AsyncIterator[tuple[WorkflowEnvironment, str, list[RepairBatch]]]:
    """A time-skipping server of the test's own whose worker pages through the subscriptions
    the test put in `pages` (read earlier), instead of reading them at run time."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server_path()), data_converter=DATA_CONVERTER
    )
    pages: list[RepairBatch] = []

    @activity.defn(name=LIST_SUBSCRIPTIONS_TO_REPAIR)
    async def stale_page(batch: WalletBatch) -> RepairBatch:
        later = [page for page in pages if (page.last_wallet_id or 0) > batch.after_wallet_id]
        return later[0] if later else RepairBatch(counts=JobCounts(), last_wallet_id=None,
                                                  candidates=[])  # fmt: skip

    real = build_activities(settings, session_maker, env.client)
    activities = [
        stale_page,
        *(
            a
            for a in real
            if _Definition.must_from_callable(a).name != LIST_SUBSCRIPTIONS_TO_REPAIR
        ),
    ]
    try:
        await register_search_attributes(env.client)
        name = f"subscription-stale-page-{uuid.uuid4().hex}"
        async with build_worker(env.client, settings, session_maker, task_queue=name,
                                activities=activities):  # fmt: skip
            yield env, name, pages
    finally:
        await env.shutdown()


async def read_page(settings: Settings, session_maker: Maker, run: SubscriptionRun) -> RepairBatch:
    """The safety net's page, as its activity reads it now, narrowed to this test's row."""
    page = await SubscriptionRepairActivities(session_maker, settings).list_to_repair(
        WalletBatch(job_run_id=0, after_wallet_id=run.subscription_id - 1)
    )
    mine = [c for c in page.candidates if c.run.subscription_id == run.subscription_id]
    return RepairBatch(counts=JobCounts(seen=1), last_wallet_id=run.subscription_id,
                       candidates=mine)  # fmt: skip


async def run_safety_net(env: WorkflowEnvironment, queue: str, after: int) -> None:
    """Run the job to its end without letting the server skip time meanwhile (a result wait
    would, and the subscriptions' timers would fire while the test looks away)."""
    job_id = f"repair-{uuid.uuid4().hex}"
    await env.client.start_workflow(
        PROCESS_SUBSCRIPTION_BILLING_WORKFLOW, JobInput(after_wallet_id=after),
        id=job_id, task_queue=queue, result_type=JobResult,
    )  # fmt: skip
    await closed(env, job_id, COMPLETED)


async def closed(env: WorkflowEnvironment, ident: str, status: ExecutionStatus.ValueType) -> str:
    """Wait (in real time) for the workflow to close with `status`; its run id."""
    for _ in range(600):
        info = (await described(env, ident)).workflow_execution_info
        if info.status != RUNNING:
            break
        await asyncio.sleep(0.1)
    assert info.status == status
    return info.execution.run_id


async def test_safety_net_never_restarts_a_subscription_cancelled_after_its_page_was_read(
    stale_env: tuple[WorkflowEnvironment, str, list[RepairBatch]],
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env, queue, pages = stale_env
    anchor = await chosen_anchor(env, 6, 30)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    pages.append(await read_page(settings, session_maker, run))
    await cancel(handle)
    cancelled_run = await closed(env, workflow_id(run), COMPLETED)

    await run_safety_net(env, queue, run.subscription_id - 1)
    # No new run: the cancelled one is still the latest.
    assert await closed(env, workflow_id(run), COMPLETED) == cancelled_run
    await sleep_until(env, month_after(anchor, 2) + timedelta(days=1))
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1
    assert (await subscription_row(session_maker, run.subscription_id)).status == "cancelled"


async def test_safety_net_start_from_a_stale_row_never_revives_a_cancelled_subscription(
    stale_env: tuple[WorkflowEnvironment, str, list[RepairBatch]],
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    """The workflow was lost; its row was cancelled after the page was read."""
    env, queue, pages = stale_env
    anchor = await chosen_anchor(env, 8, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    await handle.terminate("lost in an incident")
    pages.append(await read_page(settings, session_maker, run))
    await execute(session_maker,
                  "UPDATE token_subscriptions SET status = 'cancelled', cancelled_at = now() "
                  "WHERE id = :id", id=run.subscription_id)  # fmt: skip

    await run_safety_net(env, queue, run.subscription_id - 1)
    # The run started from the stale row ended at its first step, having charged nothing.
    await closed(env, workflow_id(run), COMPLETED)
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1
    assert (await subscription_row(session_maker, run.subscription_id)).status == "cancelled"


# --- A run rebuilt from its row keeps what it owes --------------------------------------------


async def test_rebuilt_past_due_run_goes_on_dunning_the_same_period(
    stale_env: tuple[WorkflowEnvironment, str, list[RepairBatch]],
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env, queue, pages = stale_env
    anchor = await chosen_anchor(env, 4, 30)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                payment_method="pm_card_declined", anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=1, hours=12))  # the failure, the day-1 retry
    before = await state(handle)
    assert (before.status, before.dunning_attempt) == ("past_due", 2)
    await handle.terminate("lost in an incident")
    pages.append(await read_page(settings, session_maker, run))

    await run_safety_net(env, queue, run.subscription_id - 1)
    rebuilt = env.client.get_workflow_handle(workflow_id(run))
    after = await state(rebuilt)
    assert (after.status, after.dunning_attempt) == ("past_due", 2)
    assert after.grace_period_ends_at == before.grace_period_ends_at
    assert after.next_billing_date == before.next_billing_date

    await update(rebuilt, UPDATE_PAYMENT_METHOD_UPDATE,
                 PaymentMethodRequest(payment_method="pm_card_ok"), CommandResult)  # fmt: skip
    await env.sleep(timedelta(minutes=1))
    assert (await state(rebuilt)).status == "active"
    stem = f"subscription:{run.subscription_id}:{anchor.isoformat()}:charge"
    charges = await gateway_charges(session_maker, run.subscription_id)
    assert [(c.idempotency_key, c.status) for c in charges] == [
        (stem, "declined"), (f"{stem}:2", "declined"), (f"{stem}:3", "succeeded"),
    ]  # fmt: skip
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["paid"]
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    await cancel(rebuilt)


async def test_cancelling_a_rebuilt_suspended_run_voids_its_open_invoice(
    stale_env: tuple[WorkflowEnvironment, str, list[RepairBatch]],
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env, queue, pages = stale_env
    anchor = await chosen_anchor(env, 11, 30)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                payment_method="pm_card_declined", anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=8))
    assert (await state(handle)).status == "suspended"
    await handle.terminate("lost in an incident")
    pages.append(await read_page(settings, session_maker, run))

    await run_safety_net(env, queue, run.subscription_id - 1)
    rebuilt = env.client.get_workflow_handle(workflow_id(run), result_type=SubscriptionOutcome)
    assert (await state(rebuilt)).status == "suspended"
    await cancel(rebuilt)
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["void"]
    assert (await subscription_row(session_maker, run.subscription_id)).status == "cancelled"


async def test_row_cancelled_during_a_declined_charge_ends_the_run_and_voids_the_invoice(
    time_skipping_env: WorkflowEnvironment,
    slow_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    """The row is cancelled without the workflow (as after a start the API took for failed)
    while the first charge is in flight; the decline leaves nothing open and nothing retried."""
    env = time_skipping_env
    anchor = await chosen_anchor(env, 9, 30)
    run, _ = await started(env, slow_queue, session_maker, await make_organization(),
                           payment_method="pm_card_declined", anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor)
    await charge_in_flight(env, run)
    await execute(session_maker,
                  "UPDATE token_subscriptions SET status = 'cancelled', cancelled_at = now() "
                  "WHERE id = :id", id=run.subscription_id)  # fmt: skip

    await sleep_until(env, anchor + timedelta(days=10))
    info = (await described(env, workflow_id(run))).workflow_execution_info
    assert info.status == COMPLETED
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["void"]
    assert (await subscription_row(session_maker, run.subscription_id)).status == "cancelled"


async def test_rebuilt_paused_run_keeps_the_declined_period_and_retries_it_on_resume(
    time_skipping_env: WorkflowEnvironment,
    slow_queue: str,
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    """Paused while its first charge was declined, lost, rebuilt from the row as the safety
    net does: the period is still owed under its own keys, and nothing is charged while paused."""
    env = time_skipping_env
    anchor = await chosen_anchor(env, 6, 30)
    run, handle = await started(env, slow_queue, session_maker, await make_organization(),
                                payment_method="pm_card_declined", anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor)
    await charge_in_flight(env, run)
    await update(handle, PAUSE_UPDATE, None, CommandResult)
    await sleep_until(env, anchor + timedelta(days=1))
    await handle.terminate("lost in an incident")

    [candidate] = (await read_page(settings, session_maker, run)).candidates
    assert (candidate.run.status, candidate.run.unpaid_period_start) == ("paused", anchor)
    rebuilt = await start_subscription(env.client, slow_queue, candidate.run)
    await sleep_until(env, anchor + timedelta(days=10))
    assert len(await gateway_charges(session_maker, run.subscription_id)) == 1
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["open"]

    await update(rebuilt, RESUME_UPDATE,
                 ResumeRequest(payment_method="pm_card_ok"), CommandResult)  # fmt: skip
    await env.sleep(timedelta(minutes=1))
    current = await state(rebuilt)
    assert (current.status, current.current_period_start) == ("active", anchor)
    stem = f"subscription:{run.subscription_id}:{anchor.isoformat()}:charge"
    charges = await gateway_charges(session_maker, run.subscription_id)
    assert [(c.idempotency_key, c.status) for c in charges] == [
        (stem, "declined"), (f"{stem}:2", "succeeded"),
    ]  # fmt: skip
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["paid"]
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    await cancel(rebuilt)


# --- A run rebuilt from its row keeps the terms it agreed -------------------------------------


async def reprice(session_maker: Maker, package_id: int, price: str) -> None:
    """A platform admin changes the catalog price of a package."""
    await execute(session_maker, "UPDATE token_packages SET price_per_token = :p WHERE id = :id",
                  p=Decimal(price), id=package_id)  # fmt: skip


async def rebuilt_from_row(
    env: WorkflowEnvironment, queue: str, settings: Settings, session_maker: Maker,
    run: SubscriptionRun, handle: WorkflowHandle[Any, Any],
) -> WorkflowHandle[Any, SubscriptionOutcome]:  # fmt: skip
    """The run lost and started again from the safety net's reading of its row."""
    await handle.terminate("lost in an incident")
    [candidate] = (await read_page(settings, session_maker, run)).candidates
    return await start_subscription(env.client, queue, candidate.run)


async def test_rebuilt_run_charges_the_agreed_price_after_a_catalog_price_change(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 9, 30)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    await reprice(session_maker, run.terms.package_id, "2.00")

    rebuilt = await rebuilt_from_row(env, queue, settings, session_maker, run, handle)
    await sleep_until(env, month_after(anchor, 1) + timedelta(days=1))
    totals = [i.total for i in await invoices(session_maker, run.subscription_id)]
    assert totals == [Decimal("290.00"), Decimal("290.00")]
    row = await subscription_row(session_maker, run.subscription_id)
    assert (row.token_quantity, row.price_per_token, row.currency) == (
        Decimal("500"), Decimal("0.50"), "USD",
    )  # fmt: skip
    await cancel(rebuilt)


async def test_package_change_takes_the_new_package_terms_of_the_day_of_the_change(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    """Repriced before the change, the new package is taken at its new price; repriced after
    it, the agreed price stays, through a rebuilt run too."""
    env = time_skipping_env
    anchor = await chosen_anchor(env, 11, 30)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    bigger = await create_package(session_maker, tokens="2000", name="Enterprise")
    await reprice(session_maker, bigger.package_id, "0.40")
    agreed = bigger.model_copy(update={"price_per_token": Decimal("0.40")})
    await update(handle, CHANGE_PACKAGE_UPDATE, ChangePackageRequest(terms=agreed),
                 ChangePackageResult)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=2))
    await reprice(session_maker, bigger.package_id, "3.00")
    await reprice(session_maker, run.terms.package_id, "3.00")

    rebuilt = await rebuilt_from_row(env, queue, settings, session_maker, run, handle)
    await sleep_until(env, month_after(anchor, 2) + timedelta(days=1))
    totals = [i.total for i in await invoices(session_maker, run.subscription_id)]
    # 500 x 0.50 + 16 %, then 2000 x 0.40 + 16 % twice.
    assert totals == [Decimal("290.00"), Decimal("928.00"), Decimal("928.00")]
    row = await subscription_row(session_maker, run.subscription_id)
    assert (row.package_id, row.token_quantity, row.price_per_token) == (
        bigger.package_id, Decimal("2000"), Decimal("0.40"),
    )  # fmt: skip
    assert (row.next_package_id, row.next_price_per_token) == (None, None)
    await cancel(rebuilt)


async def test_package_chosen_again_at_a_new_price_keeps_the_later_terms_through_a_rebuild(
    time_skipping_env: WorkflowEnvironment,
    queue: str,
    settings: Settings,
    session_maker: Maker,
    make_organization: MakeOrganization,
) -> None:
    env = time_skipping_env
    anchor = await chosen_anchor(env, 12, 31)
    run, handle = await started(env, queue, session_maker, await make_organization(),
                                anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    bigger = await create_package(session_maker, tokens="2000", name="Enterprise")
    await update(handle, CHANGE_PACKAGE_UPDATE, ChangePackageRequest(terms=bigger),
                 ChangePackageResult)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=1))
    await reprice(session_maker, bigger.package_id, "0.40")
    again = bigger.model_copy(update={"price_per_token": Decimal("0.40")})
    await update(handle, CHANGE_PACKAGE_UPDATE, ChangePackageRequest(terms=again),
                 ChangePackageResult)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=2))

    rebuilt = await rebuilt_from_row(env, queue, settings, session_maker, run, handle)
    await sleep_until(env, month_after(anchor, 1) + timedelta(days=1))
    totals = [i.total for i in await invoices(session_maker, run.subscription_id)]
    assert totals == [Decimal("290.00"), Decimal("928.00")]
    await cancel(rebuilt)


@pytest.mark.parametrize("payment_gateway_kind", ["stripe"])
async def test_renewal_needing_authentication_is_paid_once_the_customer_completes_it(
    time_skipping_env: WorkflowEnvironment,
    gateway_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
    cards: CardTable,
    provider_book: ProviderBook,
    stripe_standin: StandinServer,
) -> None:
    assert cards.requires_action is not None
    env = time_skipping_env
    anchor = await chosen_anchor(env, 5, 31)
    run, handle = await started(env, gateway_queue, session_maker, await make_organization(),
                                payment_method=cards.requires_action, anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(hours=1))
    waiting = await state(handle)
    assert waiting.status == "past_due" and waiting.last_payment_error is not None
    assert "authentication" in waiting.last_payment_error
    action = await handle.query(PAYMENT_ACTION_QUERY, result_type=PaymentAction)
    assert action is not None and action.client_secret
    failures = await events(session_maker, run.subscription_id, "subscription.payment_failed")
    assert [f.payload["decline_code"] for f in failures] == ["authentication_required"]

    # The customer comes back on-session: confirms the payment, then passes 3-D Secure.
    async with httpx.AsyncClient(base_url=stripe_standin.url) as browser:
        confirmed = await browser.post(
            f"/v1/payment_intents/{action.payment_reference}/confirm",
            data={"payment_method": cards.requires_action},
            headers={"Authorization": f"Bearer {STANDIN_KEY}"},
        )
        url = confirmed.json()["next_action"]["redirect_to_url"]["url"]
        (await browser.post(url)).raise_for_status()
    await handle.signal(
        PAYMENT_CONFIRMED_SIGNAL, PaymentConfirmation(payment_reference=action.payment_reference)
    )
    await env.sleep(timedelta(minutes=1))
    paid = await state(handle)
    assert (paid.status, paid.dunning_attempt) == ("active", 0)
    assert await wallet_balance(session_maker, run.wallet_id) == Decimal("500")
    assert await provider_book(f"subscription:{run.subscription_id}:") == [
        ("charge", "succeeded", Decimal("290.00"))
    ]
    assert [i.status for i in await invoices(session_maker, run.subscription_id)] == ["paid"]
    await cancel(handle)
    await record_histories(
        env.client, subscription_workflow_id(run.subscription_id), "renewal-requires-action", 2
    )


@pytest.mark.parametrize("payment_gateway_kind", ["stripe"])
async def test_a_retry_calls_off_the_payment_the_customer_left_waiting(
    time_skipping_env: WorkflowEnvironment,
    gateway_queue: str,
    session_maker: Maker,
    make_organization: MakeOrganization,
    cards: CardTable,
    stripe_standin: StandinServer,
) -> None:
    assert cards.requires_action is not None
    env = time_skipping_env
    anchor = await chosen_anchor(env, 7, 31)
    run, handle = await started(env, gateway_queue, session_maker, await make_organization(),
                                payment_method=cards.requires_action, anchor=anchor)  # fmt: skip
    await sleep_until(env, anchor + timedelta(days=1, hours=12))  # the failure, the day-1 retry
    assert (await state(handle)).dunning_attempt == 2
    statuses = [
        intent["status"]
        for intent in list(stripe_standin.store.objects("payment_intent").values())
        if intent["metadata"]
        .get("tokenbill_key", "")
        .startswith(f"subscription:{run.subscription_id}:")
    ]
    # The first attempt's payment can no longer be completed; the second one waits.
    assert statuses == ["canceled", "requires_payment_method"]
    await cancel(handle)
