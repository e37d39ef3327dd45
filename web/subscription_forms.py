"""The subscription forms' fields as the API's request bodies (api/schemas/subscriptions.py), so
a form is validated by the same rules as the JSON it stands for."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError

from api.schemas.subscriptions import (
    CancelBody,
    ChangePackageBody,
    PaymentMethodBody,
    ResumeBody,
    SubscriptionCreate,
)
from services.errors import invalid

BodyT = TypeVar("BodyT", bound=BaseModel)
Action = Literal["cancel", "pause", "resume", "package", "payment-method"]


@dataclass(frozen=True)
class CommandFields:
    """What a command form may carry (each command reads its own)."""

    when: str | None = None
    payment_method: str | None = None
    package_id: str | None = None


def blank_to_none(value: str | None) -> str | None:
    return None if value is None or not value.strip() else value.strip()


def number(value: str | None) -> int | str | None:
    """A whole-number field as an int (anything else is left for the body's validation)."""
    text = blank_to_none(value)
    return int(text) if text is not None and text.isdigit() and len(text) < 12 else text


def utc_moment(value: str | None) -> datetime | None:
    """A datetime-local field (no zone: read as UTC) or an ISO 8601 moment."""
    text = blank_to_none(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise invalid("validation_error", "Start: write a date and time (UTC).") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def new_subscription(
    organization_id: int | None,
    package_id: str | None,
    payment_method: str | None,
    billing_interval: str | None,
    start_at: str | None,
    grace_period: str | None,
) -> SubscriptionCreate:
    """The create form as the API's body; INVALID with the fields' messages otherwise."""
    if organization_id is None:
        raise invalid("validation_error", "Organization: choose the organization.")
    return _validated(
        SubscriptionCreate,
        {
            "organization_id": organization_id,
            "package_id": number(package_id),
            "payment_method": blank_to_none(payment_method),
            "billing_interval": blank_to_none(billing_interval) or "P1M",
            "start_at": utc_moment(start_at),
            "grace_period": blank_to_none(grace_period),
        },
    )


def command_body(action: Action, fields: CommandFields) -> BaseModel | None:
    """The API's body of the command (None for pause, which takes none)."""
    if action == "cancel":
        return _validated(CancelBody, {"when": blank_to_none(fields.when) or "period_end"})
    if action == "pause":
        return None
    if action == "resume":
        return _validated(ResumeBody, {"payment_method": blank_to_none(fields.payment_method)})
    if action == "package":
        return _validated(ChangePackageBody, {"package_id": number(fields.package_id)})
    return _validated(PaymentMethodBody, {"payment_method": blank_to_none(fields.payment_method)})


def _validated(model: type[BodyT], values: dict[str, object]) -> BodyT:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        messages = [
            f"{' '.join(str(part) for part in error['loc']).replace('_', ' ')}: {error['msg']}"
            for error in exc.errors()
        ]
        raise invalid("validation_error", "; ".join(messages)) from exc
