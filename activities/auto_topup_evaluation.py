"""One trigger evaluated against a wallet's locked policy: skip it (recording why, once), or buy
with a pending token_purchases row and the trigger recorded as purchasing.

A trigger's key (`topup:<wallet>:<trigger>`) is recorded once in auto_topups with what came of
it; evaluating the same trigger again returns the same purchase, or `already_handled`. Caps count
the wallet's auto top-up purchases that are pending, processing or completed, per UTC calendar
day and UTC calendar month.
"""

import secrets
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from activities.auto_topup_notices import ACTOR, TOPUP_CAP_REACHED, TOPUP_FAILED, TopupNotifier
from db import auto_topup as topups
from db.audit import write_audit
from db.models import AutoTopupPolicy, TokenPackage
from domain.pricing import price_tokens
from tokenbill.settings import Settings
from workflows.auto_topup_types import EvaluateInput, PolicySchedule, TopupDecision, topup_key
from workflows.purchase_types import PurchaseInput, purchase_workflow_id


def new_topup_reference() -> str:
    return "TKA-" + secrets.token_hex(10).upper()


class TriggerEvaluation:
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
        self._notify = TopupNotifier(session, request.organization_id, request.wallet_id)

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
