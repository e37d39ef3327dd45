"""Token packages: list and read (tokens.view); create, update, deactivate (platform admins).

The catalog is platform data shared by every organisation, so an organisation's own
`tokens.configure` user may not change it. A price change reaches new purchases only:
subscriptions and automatic top-up policies keep the terms they agreed to.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Admin, Viewer
from api.deps import Session, SettingsDep
from api.idempotency import IDEMPOTENT_ROUTE, Answer, respond_once
from api.pagination import PageParams
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.packages import PackageCreate, PackageOut, PackageUpdate, package_audit_view
from db.audit import Actor
from services.administration import packages
from services.administration.packages import NewPackage

router = APIRouter(prefix="/packages", tags=["packages"], responses=AUTH_ERRORS)
PackageId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Package id.")]


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
    rows, total = await packages.list_packages(
        session, include_inactive=include_inactive, limit=page.limit, offset=page.offset
    )
    return Page[PackageOut](
        items=[PackageOut.of(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{package_id}",
    summary="Read a token package",
    description="Requires `tokens.view`.",
)
async def get_package(principal: Viewer, session: Session, package_id: PackageId) -> PackageOut:
    return PackageOut.of(await packages.get_package(session, package_id))


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
    async def work() -> Answer:
        new = NewPackage(
            name=body.name,
            description=body.description,
            token_quantity=body.token_quantity,
            price_per_token=body.price_per_token or settings.default_token_price,
            currency=body.currency or settings.token_currency,
        )
        package = await packages.create_package(
            session, new, Actor.user(principal.id), audit_context(request), package_audit_view
        )
        return Answer(201, PackageOut.of(package).model_dump(mode="json"))

    return await respond_once(session, request, principal, body, work)


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
    package = await packages.update_package(
        session, package_id, body.changes(), Actor.user(principal.id), audit_context(request),
        package_audit_view,
    )  # fmt: skip
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
    package = await packages.deactivate_package(
        session, package_id, Actor.user(principal.id), audit_context(request), package_audit_view
    )
    await session.commit()
    return PackageOut.of(package)
