"""The commands a subscription's workflow carries out (cancel, pause, resume, change package, new
payment method): each sent as an update the workflow answers itself, and each accepted one
audited with the user who sent it. The token_subscriptions row follows through the workflow's
activities."""

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext
from db.models import TokenSubscription
from services import audit
from services.catalog import active_package
from services.errors import conflict, unavailable
from services.subscriptions.creation import package_terms
from tokenbill.workflow_client import (
    WorkflowClient,
    WorkflowNotRunning,
    WorkflowRefused,
    WorkflowUnavailable,
)
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_types import (
    CancelRequest,
    CancelResult,
    CancelWhen,
    ChangePackageRequest,
    ChangePackageResult,
    CommandResult,
    PackageTerms,
    PaymentMethodRequest,
    ResumeRequest,
    subscription_workflow_id,
)

ResultT = TypeVar("ResultT")


class CommandAnswer(BaseModel):
    """What the workflow answered to an accepted command."""

    subscription_id: int
    status: str
    message: str
    next_billing_date: datetime | None = None
    effective_at: datetime | None = None
    package_id: int | None = None


class ResumeDeclined(Exception):
    """Resuming a suspended subscription charged its payment method, and the charge was declined:
    it stays suspended (nothing is audited)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def offered_terms(session: AsyncSession, package_id: int) -> PackageTerms:
    """The terms of a package still offered for sale, for change_package (INVALID otherwise)."""
    return package_terms(await active_package(session, package_id))


class SubscriptionCommands:
    """The commands one user sends to one subscription (its row read and authorised)."""

    def __init__(
        self,
        session: AsyncSession,
        workflows: WorkflowClient,
        subscription: TokenSubscription,
        *,
        user_id: int,
        context: RequestContext,
    ) -> None:
        self._session = session
        self._workflows = workflows
        self._subscription_id = subscription.id
        self._organization_id = subscription.organization_id
        self._user_id = user_id
        self._context = context

    async def cancel(self, when: CancelWhen) -> CommandAnswer:
        result = await self._send(SubscriptionWorkflow.cancel, CancelRequest(when=when),
                                  CancelResult)  # fmt: skip
        moment = "at the end of the paid period" if result.cancel_at_period_end else "now"
        answer = CommandAnswer(
            subscription_id=self._subscription_id, status=result.status,
            message=f"The subscription is cancelled {moment}.", effective_at=result.effective_at,
        )  # fmt: skip
        return await self._audited("cancel", {"when": when}, answer)

    async def pause(self) -> CommandAnswer:
        result = await self._send(SubscriptionWorkflow.pause, None, CommandResult)
        return await self._audited("pause", None, self._answer(result))

    async def resume(self, payment_method: str | None) -> CommandAnswer:
        """Raises ResumeDeclined when the charge of a suspended subscription was declined."""
        result = await self._send(SubscriptionWorkflow.resume,
                                  ResumeRequest(payment_method=payment_method),
                                  CommandResult)  # fmt: skip
        if result.status == "suspended":
            raise ResumeDeclined(result.message)
        return await self._audited(
            "resume", {"payment_method": payment_method}, self._answer(result)
        )

    async def change_package(self, terms: PackageTerms) -> CommandAnswer:
        """Move to `terms` (see offered_terms) from the next period."""
        result = await self._send(SubscriptionWorkflow.change_package,
                                  ChangePackageRequest(terms=terms),
                                  ChangePackageResult)  # fmt: skip
        answer = CommandAnswer(
            subscription_id=self._subscription_id, status="accepted", message=result.message,
            effective_at=result.effective_from, package_id=result.package_id,
        )  # fmt: skip
        return await self._audited("package", {"package_id": terms.package_id}, answer)

    async def update_payment_method(self, payment_method: str) -> CommandAnswer:
        result = await self._send(SubscriptionWorkflow.update_payment_method,
                                  PaymentMethodRequest(payment_method=payment_method),
                                  CommandResult)  # fmt: skip
        return await self._audited(
            "payment_method", {"payment_method": payment_method}, self._answer(result)
        )

    async def _send(self, update: Any, argument: Any, result_type: type[ResultT]) -> ResultT:
        """The workflow's answer to `update` (a SubscriptionWorkflow update method). A refusal or
        an ended workflow is a conflict; an unreachable Temporal is unavailable (nothing done)."""
        subscription_id = self._subscription_id
        try:
            return await self._workflows.update(
                subscription_workflow_id(subscription_id), update, argument, result_type
            )
        except WorkflowRefused as refused:
            raise conflict(
                "subscription_state_conflict", refused.message, {"reason": refused.reason}
            ) from refused
        except WorkflowNotRunning as ended:
            raise conflict(
                "subscription_not_running",
                f"Subscription {subscription_id} has no running workflow (it has ended).",
            ) from ended
        except WorkflowUnavailable as exc:
            raise unavailable(
                "workflow_unavailable",
                "The workflow service is unavailable, so the command was not applied. Retry later.",
            ) from exc

    def _answer(self, result: CommandResult) -> CommandAnswer:
        return CommandAnswer(
            subscription_id=self._subscription_id, status=result.status, message=result.message,
            next_billing_date=result.next_billing_date,
        )  # fmt: skip

    async def _audited(
        self, action: str, request: dict[str, Any] | None, answer: CommandAnswer
    ) -> CommandAnswer:
        """Audit the accepted command: what was asked (None for a command without a body) and
        what the workflow answered."""
        target = audit.Target("token_subscription", self._subscription_id, self._organization_id)
        after = {"request": request, **answer.model_dump(mode="json")}
        await audit.record(
            self._session, Actor.user(self._user_id), f"subscription.{action}", target, None,
            after, self._context,
        )  # fmt: skip
        return answer
