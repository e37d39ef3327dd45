"""Automatic top-up activities: decide what a trigger leads to, and record how a top-up ended.

Evaluating a trigger locks the wallet's policy row, so two evaluations of one wallet never
interleave. A trigger's key (`topup:<wallet>:<trigger>`) is recorded once in auto_topups with
what came of it; evaluating the same trigger again returns the same purchase, or `already_handled`.
Caps count the wallet's auto top-up purchases that are pending, processing or completed, per UTC
calendar day and UTC calendar month.
"""

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.organization_status import refuse_while_inactive
from activities.token_switch import refuse_while_switched_off
from db import auto_topup as topups
from db.audit import Actor, write_audit
from db.models import AutoTopupPolicy, TokenPackage
from db.notifications import Severity, record_event
from domain.pricing import price_tokens
from tokenbill.settings import Settings
from workflows.auto_topup_types import (
    EVALUATE_TRIGGER,
    PURCHASE_OUTCOME,
    PURCHASE_STILL_RUNNING,
    RECORD_OUTCOME,
    EvaluateInput,
    PolicySchedule,
    RecordedOutcome,
    RecordOutcomeInput,
    TopupDecision,
    topup_key,
)
from workflows.purchase_types import PurchaseInput, PurchaseResult, purchase_workflow_id

logger = logging.getLogger("tokenbill.auto_topup")
ACTOR = Actor.system("auto-topup")

# Events the top-up path records (delivered by the relay like every other event).
TOPUP_SUCCEEDED = "auto_topup.succeeded"
TOPUP_FAILED = "auto_topup.failed"
TOPUP_CAP_REACHED = "auto_topup.cap_reached"
TOPUP_SUSPENDED = "auto_topup.suspended"


def new_topup_reference() -> str:
    return "TKA-" + secrets.token_hex(10).upper()


def retry_backoff(settings: Settings, consecutive_failures: int) -> timedelta:
    """The wait after the n-th consecutive failure: the base, doubled for each one before it."""
    factor = 1 << max(consecutive_failures - 1, 0)
    return settings.token_auto_topup_retry_backoff * factor


class AutoTopupActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.evaluate, self.record_outcome, self.purchase_outcome]

    @activity.defn(name=EVALUATE_TRIGGER)
    async def evaluate(self, request: EvaluateInput) -> TopupDecision:
        if not self._settings.token_auto_topup_enabled:
            return TopupDecision(action="stop", reason="auto_topup_disabled")
        refuse_while_switched_off(self._settings, f"the top-up of wallet {request.wallet_id}")
        await refuse_while_inactive(
            self._session_maker,
            request.organization_id,
            f"the top-up of wallet {request.wallet_id}",
        )
        async with self._session_maker() as session, session.begin():
            policy = await topups.locked_policy_of_wallet(session, request.wallet_id)
            if policy is None:
                return TopupDecision(action="stop", reason="no_policy")
            if not policy.enabled:
                return TopupDecision(action="stop", reason="policy_disabled")
            if policy.status == "suspended":
                return TopupDecision(action="stop", reason="policy_suspended")
            return await _Evaluation(session, self._settings, policy, request).decide()

    @activity.defn(name=PURCHASE_OUTCOME)
    async def purchase_outcome(self, reference: str) -> PurchaseResult:
        """How a top-up purchase an earlier run started ended, from its row; while it is still
        open this raises a retryable error, so the workflow waits for it."""
        async with self._session_maker() as session:
            row = await topups.purchase(session, reference)
        if row.status in topups.STILL_OPEN:
            raise ApplicationError(
                f"top-up purchase {reference} is still {row.status}", type=PURCHASE_STILL_RUNNING
            )
        return PurchaseResult(
            purchase_reference_id=reference, status=row.status, failure_reason=row.failure_reason
        )

    @activity.defn(name=RECORD_OUTCOME)
    async def record_outcome(self, request: RecordOutcomeInput) -> RecordedOutcome:
        result = request.result
        succeeded = result.status == "completed"
        reason = None if succeeded else (result.failure_reason or f"purchase {result.status}")
        async with self._session_maker() as session, session.begin():
            first = await topups.finish_topup(
                session, request.topup_id, succeeded=succeeded, reason=reason
            )
            policy = await topups.locked_policy_of_wallet(session, request.wallet_id)
            if policy is None:
                return RecordedOutcome(consecutive_failures=0, suspended=False)
            if first:
                await self._apply(session, policy, request, reason)
            suspended = policy.status == "suspended"
            failures = policy.consecutive_failures
            return RecordedOutcome(
                consecutive_failures=failures,
                suspended=suspended,
                retry_after=(
                    retry_backoff(self._settings, failures)
                    if failures and not suspended and not succeeded
                    else None
                ),
            )

    async def _apply(
        self,
        session: AsyncSession,
        policy: AutoTopupPolicy,
        request: RecordOutcomeInput,
        reason: str | None,
    ) -> None:
        key = topup_key(request.wallet_id, request.trigger.key)
        reference = request.result.purchase_reference_id
        base = {"wallet_id": request.wallet_id, "organization_id": request.organization_id,
                "purchase_reference_id": reference, "trigger": request.trigger.kind}  # fmt: skip
        notify = _Notifier(session, request.organization_id, request.wallet_id)
        if reason is None:
            policy.consecutive_failures = 0
            policy.last_topup_at = datetime.now(UTC)
            await notify(f"{key}:succeeded", TOPUP_SUCCEEDED, base)
            return
        policy.consecutive_failures += 1
        failures = policy.consecutive_failures
        await notify(
            f"{key}:failed", TOPUP_FAILED,
            {**base, "reason": reason, "consecutive_failures": failures}, severity="warning",
        )  # fmt: skip
        if failures < self._settings.token_auto_topup_max_failures:
            return
        policy.status = "suspended"
        policy.suspended_at = datetime.now(UTC)
        policy.suspended_reason = (
            f"Suspended after {failures} consecutive failed top-up payments; last: {reason}"
        )
        policy.updated_at = policy.suspended_at
        await write_audit(
            session, actor=ACTOR, action="auto_topup.suspend",
            organization_id=request.organization_id, target_type="auto_topup_policy",
            target_id=request.wallet_id, before={"status": "active"},
            after={"status": "suspended", "reason": policy.suspended_reason},
            outcome="failure",
        )  # fmt: skip
        await notify(
            f"{key}:suspended", TOPUP_SUSPENDED,
            {**base, "reason": policy.suspended_reason, "consecutive_failures": failures},
            severity="critical",
        )  # fmt: skip


class _Notifier:
    def __init__(self, session: AsyncSession, organization_id: int, wallet_id: int) -> None:
        self._session = session
        self._organization_id = organization_id
        self._wallet_id = wallet_id

    async def __call__(
        self, key: str, event_type: str, payload: dict[str, Any], *, severity: Severity = "info"
    ) -> None:
        await record_event(
            self._session, idempotency_key=key, event_type=event_type, payload=payload,
            organization_id=self._organization_id, wallet_id=self._wallet_id, severity=severity,
        )  # fmt: skip


class _Evaluation:
    """One trigger against a locked, enabled, active policy, inside the caller's transaction."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        policy: AutoTopupPolicy,
        request: EvaluateInput,
    ) -> None:
        self._session = session
        self._settings = settings
        self._policy = policy
        self._request = request
        self._key = topup_key(request.wallet_id, request.trigger.key)
        self._schedule = (
            PolicySchedule(interval=policy.schedule_interval, anchor=policy.schedule_anchor)
            if policy.schedule_interval and policy.schedule_anchor
            else None
        )
        self._notify = _Notifier(session, request.organization_id, request.wallet_id)

    def _skip(self, reason: str, cooldown_until: datetime | None = None) -> TopupDecision:
        return TopupDecision(
            action="skip", reason=reason, schedule=self._schedule, cooldown_until=cooldown_until
        )

    async def decide(self) -> TopupDecision:
        trigger = self._request.trigger
        if trigger.kind == "policy_changed":
            return self._skip("policy_refreshed")
        earlier = await self._earlier_decision()
        if earlier is not None:
            return earlier
        balance = await topups.wallet_balance(self._session, self._request.wallet_id)
        threshold = self._policy.threshold
        if trigger.kind in ("threshold", "check"):
            if threshold is None:
                return self._skip("no_threshold")
            if balance >= threshold:
                return self._skip("balance_above_threshold")
        if await topups.topup_in_flight(self._session, self._request.wallet_id):
            return self._skip("topup_in_flight")
        now = datetime.now(UTC)
        last = self._policy.last_topup_at
        if last is not None and last + self._policy.cooldown > now:
            until = last + self._policy.cooldown
            await self._record_skip("cooldown", f"in cooldown until {until.isoformat()}")
            return self._skip("cooldown", cooldown_until=until)
        return await self._purchase(balance, now)

    async def _earlier_decision(self) -> TopupDecision | None:
        """What an earlier evaluation of this same trigger decided, if there was one."""
        row = await topups.topup_of_key(self._session, self._key)
        if row is None:
            return None
        if row.outcome == "purchasing" and row.purchase_reference_id is not None:
            # Bought but not recorded (the run that bought may have ended first): the workflow
            # waits for the purchase, running or finished, and records how it ended.
            purchase = await self._purchase_input(row.purchase_reference_id)
            return TopupDecision(
                action="purchase", topup_id=row.id, purchase=purchase, schedule=self._schedule
            )
        return self._skip("already_handled")

    async def _purchase(self, balance: Decimal, now: datetime) -> TopupDecision:
        policy = self._policy
        package: TokenPackage | None = None
        if policy.package_id is not None:
            package = await self._session.get(TokenPackage, policy.package_id)
            if package is None or not package.is_active:
                await self._record_skip(
                    "package_unavailable",
                    f"package {policy.package_id} is no longer offered",
                    event_type=TOPUP_FAILED,
                )
                return self._skip("package_unavailable")
            # The terms agreed when the policy chose the package, not today's catalog price.
            quantity = Decimal(policy.agreed_token_quantity or package.token_quantity)
            unit_price = Decimal(policy.agreed_price_per_token or package.price_per_token)
            currency = policy.agreed_currency or package.currency
            description = f"Automatic top-up: {package.name}"
        else:
            target = policy.target_balance or Decimal(0)
            quantity = target - balance
            if quantity <= 0:
                return self._skip("balance_at_target")
            unit_price = policy.agreed_price_per_token or self._settings.default_token_price
            currency = policy.agreed_currency or self._settings.token_currency
            description = f"Automatic top-up to {target.normalize():f} tokens"
        price = price_tokens(quantity, unit_price, self._settings.token_invoice_tax_rate)
        cap = await self._cap_reached(price.total, now)
        if cap is not None:
            await self._record_skip(cap[0], cap[1], event_type=TOPUP_CAP_REACHED)
            return self._skip(cap[0])
        reference = new_topup_reference()
        purchase = PurchaseInput(
            purchase_reference_id=reference, organization_id=self._request.organization_id,
            wallet_id=self._request.wallet_id, package_id=policy.package_id,
            purchase_type="auto_topup", token_quantity=quantity, price_per_token=unit_price,
            subtotal_amount=price.subtotal, tax_rate=price.tax_rate, tax_amount=price.tax,
            total_amount=price.total, currency=currency,
            payment_method=policy.payment_method or "", description=description,
        )  # fmt: skip
        await topups.add_topup_purchase(
            self._session, reference=reference, organization_id=purchase.organization_id,
            wallet_id=purchase.wallet_id, package_id=purchase.package_id,
            token_quantity=quantity, price_per_token=unit_price,
            subtotal_amount=price.subtotal, tax_rate=price.tax_rate, tax_amount=price.tax,
            total_amount=price.total, currency=currency,
            payment_method=purchase.payment_method, workflow_id=purchase_workflow_id(reference),
        )  # fmt: skip
        topup_id = await self._insert_topup("purchasing", None, reference)
        if topup_id is None:  # the policy row lock makes this unreachable; never buy unrecorded
            raise RuntimeError(f"trigger {self._key} was recorded concurrently")
        await write_audit(
            self._session, actor=ACTOR, action="auto_topup.purchase",
            organization_id=purchase.organization_id, target_type="token_purchase",
            target_id=reference,
            after={"trigger": self._request.trigger.model_dump(), "balance": balance,
                   **purchase.model_dump(mode="json")},
        )  # fmt: skip
        return TopupDecision(
            action="purchase", topup_id=topup_id, purchase=purchase, schedule=self._schedule
        )

    async def _cap_reached(self, total: Decimal, now: datetime) -> tuple[str, str] | None:
        policy = self._policy
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month_start = day_start.replace(day=1)
        row = await topups.cap_usage(
            self._session, self._request.wallet_id, day_start=day_start, month_start=month_start
        )
        # A policy stored without caps is capped by the defaults: never unlimited.
        per_day = policy.max_topups_per_day or self._settings.auto_topup_default_max_per_day
        if row.today >= per_day:
            return (
                "daily_cap_reached",
                f"{row.today} automatic top-ups today reach the cap of {per_day} per day",
            )
        limit = policy.max_monthly_spend or self._settings.auto_topup_default_max_monthly_spend
        if row.month_total + total > limit:
            return (
                "monthly_cap_reached",
                f"buying {total} would bring this month's automatic top-ups to "
                f"{row.month_total + total}, over the cap of {limit}",
            )
        return None

    async def _record_skip(
        self, reason: str, message: str, *, event_type: str | None = None
    ) -> None:
        if await self._insert_topup("skipped", message, None) is None:
            return
        if event_type is not None:
            await self._notify(
                f"{self._key}:{reason}", event_type,
                {"wallet_id": self._request.wallet_id,
                 "organization_id": self._request.organization_id,
                 "trigger": self._request.trigger.kind, "reason": reason, "message": message},
                severity="warning",
            )  # fmt: skip

    async def _insert_topup(
        self, outcome: str, reason: str | None, reference: str | None
    ) -> int | None:
        return await topups.record_topup(
            self._session, idempotency_key=self._key, wallet_id=self._request.wallet_id,
            organization_id=self._request.organization_id,
            trigger_kind=self._request.trigger.kind, outcome=outcome, reason=reason,
            purchase_reference_id=reference,
        )  # fmt: skip

    async def _purchase_input(self, reference: str) -> PurchaseInput:
        row = await topups.purchase(self._session, reference)
        return PurchaseInput(
            purchase_reference_id=reference, organization_id=row.organization_id,
            wallet_id=row.wallet_id, package_id=row.package_id, purchase_type="auto_topup",
            token_quantity=row.token_quantity, price_per_token=row.price_per_token,
            subtotal_amount=row.subtotal_amount, tax_rate=row.tax_rate,
            tax_amount=row.tax_amount, total_amount=row.total_amount, currency=row.currency,
            payment_method=row.payment_method, description="Automatic top-up",
        )  # fmt: skip
