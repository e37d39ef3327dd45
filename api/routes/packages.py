"""Token packages: list and read (tokens.view); create, update, deactivate (platform admins).

The catalog is platform data shared by every organisation, so an organisation's own
`tokens.configure` user may not change it. A price change reaches new purchases only:
subscriptions and automatic top-up policies keep the terms they agreed to.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Admin, Principal, Viewer
from api.deps import Session, SettingsDep
from api.errors import ApiError, validation_error
from api.idempotency import IDEMPOTENT_ROUTE, claim, idempotent_request, store_response
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.packages import PackageCreate, PackageOut, PackageUpdate
from db.audit import Actor, write_audit
from db.models import TokenPackage

router = APIRouter(prefix="/packages", tags=["packages"], responses=AUTH_ERRORS)
PackageId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Package id.")]
MAX_PACKAGE_PRICE = Decimal("1e15")


async def _load(
    session: AsyncSession, package_id: int, *, for_update: bool = False
) -> TokenPackage:
    package = await session.get(TokenPackage, package_id, with_for_update=for_update)
    if package is None:
        raise ApiError(404, "package_not_found", f"Package {package_id} does not exist.")
    return package


def _check_package_price(token_quantity: Decimal, price_per_token: Decimal) -> None:
    if token_quantity * price_per_token >= MAX_PACKAGE_PRICE:
        raise validation_error(
            "body", f"a package must cost less than {MAX_PACKAGE_PRICE:,.0f} before tax"
        )


def _snapshot(package: TokenPackage) -> dict[str, Any]:
    return PackageOut.of(package).model_dump(mode="json", exclude={"created_at", "updated_at"})


async def _name_taken(session: AsyncSession, name: str, *, except_id: int | None = None) -> bool:
    query = select(TokenPackage.id).where(func.lower(TokenPackage.name) == name.lower())
    if except_id is not None:
        query = query.where(TokenPackage.id != except_id)
    return (await session.scalar(query)) is not None


def _name_conflict(name: str) -> ApiError:
    return ApiError(409, "package_name_taken", f"A package named {name!r} already exists.")


@router.get(
    "",
    summary="List token packages",
    description="Requires `tokens.view`. Active packages, cheapest per token first; "
    "`include_inactive=true` adds the deactivated ones.",
)
async def list_packages(
    principal: Viewer,
    session: Session,
    page: PageParams,
    include_inactive: Annotated[bool, Query()] = False,
) -> Page[PackageOut]:
    query = select(TokenPackage)
    if not include_inactive:
        query = query.where(TokenPackage.is_active)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(TokenPackage.token_quantity, TokenPackage.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    return Page[PackageOut](
        items=[PackageOut.of(row) for row in rows],
        total=int(total or 0),
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{package_id}",
    summary="Read a token package",
    description="Requires `tokens.view`.",
)
async def get_package(principal: Viewer, session: Session, package_id: PackageId) -> PackageOut:
    return PackageOut.of(await _load(session, package_id))


@router.post(
    "",
    openapi_extra=IDEMPOTENT_ROUTE,
    status_code=201,
    summary="Create a token package",
    description="Requires the admin role (platform admins only; an organisation's users get "
    "403). Needs an `Idempotency-Key` header. `price_per_token` defaults to "
    "DEFAULT_TOKEN_PRICE. Audited.",
    response_model=PackageOut,
)
async def create_package(
    request: Request,
    principal: Admin,
    session: Session,
    settings: SettingsDep,
    body: PackageCreate,
) -> JSONResponse:
    idempotency = idempotent_request(request, principal, body)
    replay = await claim(session, idempotency)
    if replay is not None:
        return replay.response()
    price = body.price_per_token or settings.default_token_price
    _check_package_price(body.token_quantity, price)
    if await _name_taken(session, body.name):
        raise _name_conflict(body.name)
    package = TokenPackage(
        name=body.name,
        description=body.description,
        token_quantity=body.token_quantity,
        price_per_token=price,
        currency=body.currency or settings.token_currency,
    )
    session.add(package)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name won the race
        raise _name_conflict(body.name) from exc
    await session.refresh(package)
    await _audit(request, session, principal, "package.create", package, None, _snapshot(package))
    answer = PackageOut.of(package).model_dump(mode="json")
    await store_response(session, idempotency, 201, answer)
    await session.commit()
    return JSONResponse(answer, status_code=201)


@router.patch(
    "/{package_id}",
    summary="Update a token package",
    description="Requires the admin role (platform admins only; an organisation's users get "
    "403). Changes only the fields sent. A new price applies to new purchases, subscriptions "
    "and policies: purchases already made, running subscriptions and automatic top-up "
    "policies keep the terms they agreed to. Audited with before and after.",
)
async def update_package(
    request: Request,
    principal: Admin,
    session: Session,
    package_id: PackageId,
    body: PackageUpdate,
) -> PackageOut:
    package = await _load(session, package_id, for_update=True)
    changes = body.changes()
    _check_package_price(
        body.token_quantity or package.token_quantity,
        body.price_per_token or package.price_per_token,
    )
    if body.name is not None and await _name_taken(session, body.name, except_id=package.id):
        raise _name_conflict(body.name)
    before = _snapshot(package)
    for field, value in changes.items():
        setattr(package, field, value)
    if _snapshot(package) != before:
        package.updated_at = datetime.now(UTC)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent rename to the same name won the race
            raise _name_conflict(body.name or package.name) from exc
        await session.refresh(package)
        await _audit(request, session, principal, "package.update", package, before,
                     _snapshot(package))  # fmt: skip
        await session.commit()
    return PackageOut.of(package)


@router.delete(
    "/{package_id}",
    summary="Deactivate a token package",
    description="Requires the admin role (platform admins only; an organisation's users get "
    "403). The package stays for the purchases that used it but can no longer be bought. "
    "Audited.",
)
async def deactivate_package(
    request: Request, principal: Admin, session: Session, package_id: PackageId
) -> PackageOut:
    package = await _load(session, package_id, for_update=True)
    if package.is_active:
        before = _snapshot(package)
        package.is_active = False
        package.updated_at = datetime.now(UTC)
        await session.flush()
        await session.refresh(package)
        await _audit(request, session, principal, "package.deactivate", package, before,
                     _snapshot(package))  # fmt: skip
        await session.commit()
    return PackageOut.of(package)


async def _audit(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    action: str,
    package: TokenPackage,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    await write_audit(
        session,
        actor=Actor.user(principal.id),
        action=action,
        target_type="token_package",
        target_id=package.id,
        before=before,
        after=after,
        context=audit_context(request),
    )
