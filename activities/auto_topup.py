"""Automatic top-up activities: decide what a trigger leads to, and record how a top-up ended.

Evaluating a trigger locks the wallet's policy row, so two evaluations of one wallet never
interleave (activities/auto_topup_evaluation.py decides). Recording an outcome counts consecutive
failures and suspends the policy after TOKEN_AUTO_TOPUP_MAX_FAILURES of them.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.auto_topup_evaluation import TriggerEvaluation
from activities.auto_topup_notices import (
    ACTOR,
    TOPUP_FAILED,
    TOPUP_SUCCEEDED,
    TOPUP_SUSPENDED,
    TopupNotifier,
)
from activities.organization_status import refuse_while_inactive
from activities.token_switch import refuse_while_switched_off
from db import auto_topup as topups
from db.audit import write_audit
from db.models import AutoTopupPolicy
from tokenbill.settings import Settings
from workflows.auto_topup_types import (
    EVALUATE_TRIGGER,
    PURCHASE_OUTCOME,
    PURCHASE_STILL_RUNNING,
    RECORD_OUTCOME,
    EvaluateInput,
    RecordedOutcome,
    RecordOutcomeInput,
    TopupDecision,
    topup_key,
)
from workflows.purchase_types import PurchaseResult


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
            return await TriggerEvaluation(session, self._settings, policy, request).decide()

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
        notify = TopupNotifier(session, request.organization_id, request.wallet_id)
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
