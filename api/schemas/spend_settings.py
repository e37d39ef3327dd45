"""Balance alert thresholds, API keys and notifications: what the spend side configures and
shows."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Name, RequestBody, RowId, TokenAmount
from db.api_keys import ApiKeyRecord
from db.ledger import MAX_TOKENS

ThresholdInput = Annotated[
    Decimal, Field(gt=0, lt=MAX_TOKENS, max_digits=20, decimal_places=4, allow_inf_nan=False)
]
ApiKeyScope = Literal["tokens.consume"]


class ThresholdsUpdate(RequestBody):
    low: ThresholdInput | None = Field(
        description="Balance under which the wallet is low; null for the default."
    )
    critical: ThresholdInput | None = Field(
        description="Balance under which the wallet is critical; null for the default."
    )


class ThresholdsOut(BaseModel):
    organization_id: int
    wallet_id: int
    low: TokenAmount
    critical: TokenAmount
    low_is_default: bool
    critical_is_default: bool


class ApiKeyCreate(RequestBody):
    name: Name
    scopes: list[ApiKeyScope] = Field(min_length=1, max_length=5)
    organization_id: RowId | None = Field(
        default=None, description="The one organization whose wallet the key spends from."
    )
    all_organizations: bool = Field(
        default=False,
        description="Instead of organization_id: a key that spends from every organization's "
        "wallet. Must be asked for explicitly; audited.",
    )


class ApiKeyOut(BaseModel):
    id: int
    name: str
    key_prefix: str
    scopes: list[str]
    organization_id: int | None
    all_organizations: bool = Field(
        description="True when the key spends from every organization's wallet."
    )
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None

    @staticmethod
    def of(record: ApiKeyRecord) -> "ApiKeyOut":
        return ApiKeyOut(
            id=record.id, name=record.name, key_prefix=record.key_prefix,
            scopes=list(record.scopes), organization_id=record.organization_id,
            all_organizations=record.all_organizations,
            created_by=record.created_by, created_at=record.created_at,
            revoked_at=record.revoked_at,
        )  # fmt: skip


class ApiKeyCreated(ApiKeyOut):
    secret: str | None = Field(
        description="The key itself, shown in the first answer only (null in a replay)."
    )
    reach: str = Field(
        description="A sentence saying which wallets the key may spend from: one organization's, "
        "or every organization's."
    )


def api_key_reach(record: ApiKeyRecord) -> str:
    if record.organization_id is None:
        return "This key spends from EVERY organization's wallet."
    return f"This key spends from organization {record.organization_id}'s wallet only."


class NotificationOut(BaseModel):
    source: Literal["low_balance", "outbox"]
    id: int
    wallet_id: int | None
    event_type: str
    severity: str
    status: str
    payload: dict[str, Any]
    created_at: datetime
    handled_at: datetime | None = Field(
        description="When it was delivered (low_balance) or dispatched (outbox), if it was."
    )
