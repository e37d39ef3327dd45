"""Organizations and users, as admins manage them."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import (
    OrganizationName,
    PersonName,
    RequestBody,
    RowId,
    UserType,
    _storable,
)

Permission = Literal[
    "tokens.view", "tokens.purchase", "tokens.configure", "tokens.consume", "tokens.finance"
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(_storable),
]


class OrganizationCreate(RequestBody):
    name: OrganizationName


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    is_active: bool


class UserCreate(RequestBody):
    email: Email
    name: PersonName | None = None
    role: Literal["admin", "user"] = "user"
    user_type: UserType | None = None
    organization_id: RowId | None = None
    permissions: list[Permission] = Field(default_factory=list, max_length=10)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str | None
    role: str
    user_type: str | None
    organization_id: int | None
    permissions: list[str]
    is_active: bool
