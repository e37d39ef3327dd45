"""Token packages: what a purchase buys."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, StrictBool, model_validator

from api.schemas.common import (
    CurrencyCode,
    Description,
    Money,
    Name,
    RequestBody,
    TokenAmount,
    TokenQuantityInput,
    UnitPrice,
    UnitPriceInput,
)
from db.models import TokenPackage
from domain.pricing import to_cents


class PackageCreate(RequestBody):
    name: Name
    description: Description | None = None
    token_quantity: TokenQuantityInput
    price_per_token: UnitPriceInput | None = Field(
        default=None, description="Defaults to DEFAULT_TOKEN_PRICE."
    )
    currency: CurrencyCode | None = Field(default=None, description="Defaults to TOKEN_CURRENCY.")


class PackageUpdate(RequestBody):
    """Only the fields sent change; description may be set to null, the others may not."""

    name: Name | None = None
    description: Description | None = None
    token_quantity: TokenQuantityInput | None = None
    price_per_token: UnitPriceInput | None = None
    is_active: StrictBool | None = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> "PackageUpdate":
        for field in ("name", "token_quantity", "price_per_token", "is_active"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self) -> dict[str, object]:
        return {field: getattr(self, field) for field in sorted(self.model_fields_set)}


class PackageOut(BaseModel):
    id: int
    name: str
    description: str | None
    token_quantity: TokenAmount
    price_per_token: UnitPrice
    package_price: Money = Field(description="token_quantity x price_per_token, before tax.")
    currency: str
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(row: TokenPackage) -> "PackageOut":
        return PackageOut(
            id=row.id,
            name=row.name,
            description=row.description,
            token_quantity=row.token_quantity,
            price_per_token=row.price_per_token,
            package_price=to_cents(Decimal(row.token_quantity) * Decimal(row.price_per_token)),
            currency=row.currency,
            is_active=row.is_active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def package_audit_view(row: TokenPackage) -> dict[str, Any]:
    """A package as the audit trail keeps it: its answer without the timestamps."""
    return PackageOut.of(row).model_dump(mode="json", exclude={"created_at", "updated_at"})
