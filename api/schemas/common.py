"""Shared pieces of the request and response bodies."""

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from db.ledger import MAX_TOKENS
from domain.amounts import money_text, plain_decimal, unit_price_text

MAX_ROW_ID = 2**31 - 1
MAX_OFFSET = 1_000_000_000


def _storable(value: str) -> str:
    """PostgreSQL text holds neither NUL characters nor lone surrogates: refuse them here."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


TokenAmount = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]
Money = Annotated[Decimal, PlainSerializer(money_text, return_type=str, when_used="json")]
UnitPrice = Annotated[Decimal, PlainSerializer(unit_price_text, return_type=str, when_used="json")]
Rate = TokenAmount

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID, strict=True)]
TokenQuantityInput = Annotated[
    Decimal, Field(gt=0, lt=MAX_TOKENS, max_digits=20, decimal_places=4, allow_inf_nan=False)
]
UnitPriceInput = Annotated[
    Decimal, Field(gt=0, max_digits=18, decimal_places=6, allow_inf_nan=False)
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_storable),
]
OrganizationName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_storable),
]
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_storable)
]
Description = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_storable)]
UserType = Annotated[str, StringConstraints(max_length=32), AfterValidator(_storable)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class RequestBody(BaseModel):
    """Unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int
    limit: int
    offset: int


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("Missing, invalid or expired bearer token, or an inactive user."),
    403: _error("The user lacks the permission, or the organization is not its own (audited)."),
    422: _error("The request does not validate."),
    503: _error("The token system is disabled (ENABLE_TOKEN_SYSTEM=false)."),
}
UNKNOWN_ORGANIZATION: dict[int | str, dict[str, Any]] = {
    404: _error("The organization named in the body does not exist."),
}
