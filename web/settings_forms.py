"""The settings page's forms read into the API's request bodies, so a form meets exactly the rules
a JSON body meets (the same pydantic models validate both). Empty fields mean "not given"."""

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.schemas.auto_topup import AutoTopupPolicyIn
from api.schemas.spend_limits import SpendLimitIn
from api.schemas.spend_settings import ApiKeyCreate, ThresholdsUpdate
from api.schemas.webhooks import WebhookCreate

BodyT = TypeVar("BodyT", bound=BaseModel)


class FormRefused(Exception):
    """The form did not meet its body's rules: one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _given(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _validated(model: type[BodyT], values: dict[str, Any]) -> BodyT:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise FormRefused([_sentence(problem) for problem in error.errors()]) from None


def _sentence(problem: Any) -> str:
    field = ".".join(str(part) for part in problem.get("loc", ()))
    message = str(problem.get("msg", "invalid value"))
    return f"{field}: {message}" if field else message


def thresholds_form(form: FormData) -> ThresholdsUpdate:
    return _validated(
        ThresholdsUpdate, {"low": _given(form, "low"), "critical": _given(form, "critical")}
    )


def _anchor(form: FormData) -> str | None:
    """The schedule's first run, entered in UTC (a datetime-local field has no zone)."""
    given = _given(form, "schedule_anchor")
    if given is None:
        return None
    try:
        return datetime.fromisoformat(given).replace(tzinfo=UTC).isoformat()
    except ValueError:
        raise FormRefused(["schedule.anchor: give a date and time (UTC)"]) from None


def _whole_number(form: FormData, name: str) -> int | None:
    given = _given(form, name)
    if given is None:
        return None
    try:
        return int(given)
    except ValueError:
        raise FormRefused([f"{name}: give a whole number"]) from None


def policy_form(form: FormData) -> AutoTopupPolicyIn:
    interval = _given(form, "schedule_interval")
    anchor = _anchor(form)
    schedule = (
        None if interval is None and anchor is None else {"interval": interval, "anchor": anchor}
    )
    buys_package = form.get("buys") != "target_balance"
    return _validated(AutoTopupPolicyIn, {
        "enabled": form.get("enabled") == "on",
        "threshold": _given(form, "threshold"),
        "schedule": schedule,
        "package_id": _whole_number(form, "package_id") if buys_package else None,
        "target_balance": None if buys_package else _given(form, "target_balance"),
        "payment_method": _given(form, "payment_method"),
        "max_topups_per_day": _whole_number(form, "max_topups_per_day"),
        "max_monthly_spend": _given(form, "max_monthly_spend"),
        "cooldown": _given(form, "cooldown") or "PT0S",
    })  # fmt: skip


def webhook_form(form: FormData, organization_id: int) -> WebhookCreate:
    types = _given(form, "event_types") or ""
    return _validated(WebhookCreate, {
        "organization_id": organization_id,
        "url": _given(form, "url"),
        "event_types": [kind.strip() for kind in types.split(",") if kind.strip()],
        "description": _given(form, "description"),
    })  # fmt: skip


def api_key_form(form: FormData, organization_id: int) -> ApiKeyCreate:
    return _validated(ApiKeyCreate, {
        "name": _given(form, "name"), "scopes": ["tokens.consume"],
        "organization_id": organization_id,
    })  # fmt: skip


def spend_limit_form(form: FormData) -> SpendLimitIn:
    """One limit: the organization's when no API key is given, else that key's."""
    key = _whole_number(form, "api_key_id")
    return _validated(SpendLimitIn, {
        "scope": "organization" if key is None else "api_key", "api_key_id": key,
        "period": _given(form, "period"), "cap": _given(form, "cap"), "mode": _given(form, "mode"),
    })  # fmt: skip
