"""Organizations and users, as admins manage them."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from api.schemas.common import (
    OrganizationName,
    PersonName,
    RequestBody,
    RowId,
    UserType,
    _storable,
)
from db.directory import OrganizationRecord, UserRecord

Permission = Literal["tokens.view", "tokens.purchase", "tokens.configure", "tokens.consume"]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(_storable),
]


class OrganizationCreate(RequestBody):
    name: OrganizationName


class OrganizationOut(BaseModel):
    id: int
    name: str
    is_active: bool

    @staticmethod
    def of(record: OrganizationRecord) -> "OrganizationOut":
        return OrganizationOut(id=record.id, name=record.name, is_active=record.is_active)


class UserCreate(RequestBody):
    email: Email
    name: PersonName | None = None
    role: Literal["admin", "user"] = "user"
    user_type: UserType | None = None
    organization_id: RowId | None = None
    permissions: list[Permission] = Field(default_factory=list, max_length=10)


class UserOut(BaseModel):
    id: int
    email: str
    name: str | None
    role: str
    user_type: str | None
    organization_id: int | None
    permissions: list[str]
    is_active: bool

    @staticmethod
    def of(record: UserRecord) -> "UserOut":
        return UserOut(
            id=record.id, email=record.email, name=record.name, role=record.role,
            user_type=record.user_type, organization_id=record.organization_id,
            permissions=list(record.permissions), is_active=record.is_active,
        )  # fmt: skip
