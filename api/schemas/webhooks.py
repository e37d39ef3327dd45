"""Webhook endpoints, their delivery log, and test events. The answers are read from the rows
and records the services return (from_attributes)."""

from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import Description, RequestBody, RowId

MAX_EVENT_FILTERS = 50
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
MAX_ROTATION_OVERLAP = timedelta(days=7)
DeliveryStatusFilter = Literal["pending", "succeeded", "failed"]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; the signature authenticates the sender")
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_http_url),
]
# An event type (`purchase.completed`) or every type under a prefix (`purchase.*`).
EventTypeFilter = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?$", max_length=64)
]
EventTypeFilters = Annotated[list[EventTypeFilter], Field(max_length=MAX_EVENT_FILTERS)]


class WebhookCreate(RequestBody):
    organization_id: RowId
    url: WebhookUrl = Field(description="Where events are POSTed (http or https).")
    event_types: EventTypeFilters = Field(
        default_factory=list,
        description="Event types to send (`purchase.completed`, or `purchase.*`); empty: all.",
    )
    description: Description | None = None


class WebhookUpdate(RequestBody):
    url: WebhookUrl | None = None
    event_types: EventTypeFilters | None = None
    description: Description | None = None
    is_active: bool | None = None


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    url: str
    event_types: list[str]
    description: str | None
    is_active: bool
    secret_hint: str = Field(description="The secret's last four characters.")
    previous_secret_expires_at: datetime | None = Field(
        description="While in the future, the secret before the last rotation still signs too."
    )
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_<base64>`): shown only in this answer and to a "
        "replay of the same request."
    )


class SecretRotation(RequestBody):
    overlap: timedelta = Field(
        default=DEFAULT_ROTATION_OVERLAP,
        ge=timedelta(0),
        le=MAX_ROTATION_OVERLAP,
        description="How long the current secret keeps signing beside the new one, so receivers "
        "can switch (ISO 8601 duration, at most P7D; PT0S ends it at once).",
    )


class SecretRotated(WebhookCreated):
    """The endpoint with its new secret; previous_secret_expires_at ends the overlap."""


class DeliveryAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    created_at: datetime


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    attempt_log: list[DeliveryAttemptOut]


class TestEventAccepted(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: int
    delivery_id: int
    workflow_id: str


class TestEventRequest(RequestBody):
    message: Annotated[str, StringConstraints(max_length=500)] = "This is a test event."
