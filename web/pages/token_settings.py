"""The settings page (`/tokens/settings`, TokenSettingsPage in the original), for tokens.configure:
balance thresholds, spend limits, the automatic top-up policy, webhooks (create, rotate the
secret, send a test event, the delivery log), the organization's notifications and, for admins
(the API's rule), its API keys. Every command is the API's service; a new secret or key is shown
in the answer once."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.errors import STATUS_OF_KIND
from api.schemas.common import MAX_ROW_ID
from api.schemas.webhooks import DEFAULT_ROTATION_OVERLAP, TestEventRequest
from api.state import app_state
from api.webhook_deps import limit_test_events, outbound_resolver
from db.audit import Actor
from db.directory import CONFIGURE, PURCHASE
from db.spend_limits import LimitSpec
from services.administration import api_keys
from services.administration.api_keys import NewApiKey
from services.administration.organizations import refuse_configuring_inactive
from services.auto_topup.policies import set_policy
from services.errors import ServiceError
from services.wallet.spend_limits import list_limits, set_limits
from services.wallet.thresholds import configure_thresholds
from services.webhooks.deliveries import WebhookDeliveries
from services.webhooks.endpoints import WebhookEndpoints
from tokenbill.outbound_addresses import Resolver
from web.auth import refuse, require
from web.console_user import ConsoleUser
from web.context import ConsoleSettings, Context, DbSession, WorkflowsDep
from web.csrf import check_csrf
from web.errors import ConsoleForbidden
from web.settings_forms import (
    FormRefused,
    api_key_form,
    policy_form,
    spend_limit_form,
    thresholds_form,
    webhook_form,
)
from web.settings_view import Notice, settings_view
from web.templates import render, utc

router = APIRouter(prefix="/tokens/settings")
Configuring = Annotated[ConsoleUser, require(CONFIGURE)]
OrganizationChoice = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Posted = [Depends(check_csrf)]
Command = Callable[[int], Awaitable[Notice]]


class Page:
    """One request on the settings page: the user, the organization it acts on, and the page
    rendered after a command with what it said."""

    def __init__(
        self,
        request: Request,
        session: DbSession,
        settings: ConsoleSettings,
        context: Context,
        workflows: WorkflowsDep,
        resolver: Annotated[Resolver, Depends(outbound_resolver)],
    ) -> None:
        self.request = request
        self.session = session
        self.settings = settings
        self.context = context
        self.workflows = workflows
        self.resolver = resolver

    async def organization(self, user: ConsoleUser, chosen: int | None) -> int | None:
        """The organization to configure (a user's own; an admin's choice), refused (audited)
        when it is another's."""
        organization_id = chosen if chosen is not None else user.user.organization_id
        if organization_id is not None and not user.sees_organization(organization_id):
            raise await refuse(
                self.request, self.session, self.context, user,
                "You may only configure your own organization.", organization_id=organization_id,
            )  # fmt: skip
        return organization_id

    def endpoints(self, user: ConsoleUser) -> WebhookEndpoints:
        return WebhookEndpoints(
            self.session, self.settings, self.resolver, Actor.user(user.user.id), self.context
        )

    def deliveries(self, user: ConsoleUser) -> WebhookDeliveries:
        return WebhookDeliveries(
            self.session, self.settings, self.workflows, Actor.user(user.user.id), self.context
        )

    async def show(
        self, user: ConsoleUser, organization_id: int | None, notice: Notice | None = None
    ) -> Response:
        view = None
        if organization_id is not None:
            view = await settings_view(
                self.session, self.settings, self.endpoints(user), self.deliveries(user),
                organization_id, with_api_keys=user.is_admin,
            )  # fmt: skip
        status = 200 if notice is None or notice.status is None else notice.status
        return render(
            self.request, "token_settings.html", user,
            {"view": view, "notice": notice, "may_buy": user.has(PURCHASE),
             "chosen": organization_id},
            status_code=status,
        )  # fmt: skip

    async def run(self, user: ConsoleUser, chosen: int | None, command: Command) -> Response:
        """Do the command on the chosen organization and show the page with what it said; a
        refusal of the form or of the service is shown on the page, nothing changed."""
        organization_id = await self.organization(user, chosen)
        if organization_id is None:
            return await self.show(user, None)
        try:
            notice = await command(organization_id)
        except FormRefused as refused:
            await self.session.rollback()
            notice = Notice.refused(refused.problems, 422)
        except ServiceError as error:
            await self.session.rollback()
            notice = Notice.refused([error.message], STATUS_OF_KIND[error.kind])
        return await self.show(user, organization_id, notice)


SettingsPage = Annotated[Page, Depends(Page)]


@router.get("")
async def settings_page(
    page: SettingsPage, user: Configuring, organization_id: OrganizationChoice = None
) -> Response:
    return await page.show(user, await page.organization(user, organization_id))


@router.post("/thresholds", dependencies=Posted)
async def save_thresholds(
    page: SettingsPage, user: Configuring, organization_id: OrganizationChoice = None
) -> Response:
    async def command(organization: int) -> Notice:
        body = thresholds_form(await page.request.form())
        await configure_thresholds(
            page.session, page.settings, organization, low=body.low, critical=body.critical,
            actor=Actor.user(user.user.id), acting_as_admin=user.is_admin, context=page.context,
        )  # fmt: skip
        return Notice.done("Thresholds saved.")

    return await page.run(user, organization_id, command)


@router.post("/spend-limits", dependencies=Posted)
async def save_spend_limit(
    page: SettingsPage, user: Configuring, organization_id: OrganizationChoice = None
) -> Response:
    """Add a limit, or change the one of the same API key (or organization) and period."""

    async def command(organization: int) -> Notice:
        body = spend_limit_form(await page.request.form())
        wanted = LimitSpec(body.api_key_id, body.period, body.cap, body.mode)
        kept = [
            LimitSpec(s.api_key_id, s.period, s.cap, s.mode)
            for s in await list_limits(page.session, organization)
            if (s.api_key_id, s.period) != (wanted.api_key_id, wanted.period)
        ]
        await set_limits(
            page.session, organization, [*kept, wanted], actor=Actor.user(user.user.id),
            acting_as_admin=user.is_admin, context=page.context,
        )  # fmt: skip
        return Notice.done("Spend limit saved.")

    return await page.run(user, organization_id, command)


@router.post("/spend-limits/{limit_id}/remove", dependencies=Posted)
async def remove_spend_limit(
    page: SettingsPage, user: Configuring, limit_id: RowId,
    organization_id: OrganizationChoice = None,
) -> Response:  # fmt: skip
    async def command(organization: int) -> Notice:
        kept = [
            LimitSpec(s.api_key_id, s.period, s.cap, s.mode)
            for s in await list_limits(page.session, organization)
            if s.id != limit_id
        ]
        await set_limits(
            page.session, organization, kept, actor=Actor.user(user.user.id),
            acting_as_admin=user.is_admin, context=page.context,
        )  # fmt: skip
        return Notice.done("Spend limit removed.")

    return await page.run(user, organization_id, command)


@router.post("/auto-topup", dependencies=Posted)
async def save_policy(
    page: SettingsPage, user: Configuring, organization_id: OrganizationChoice = None
) -> Response:
    if not user.has(PURCHASE):
        raise await refuse(
            page.request, page.session, page.context, user,
            f"An automatic top-up policy pays for tokens: it needs the {PURCHASE} permission "
            "as well as tokens.configure.",
            organization_id=user.user.organization_id, permission=PURCHASE,
        )  # fmt: skip

    async def command(organization: int) -> Notice:
        body = policy_form(await page.request.form())
        await refuse_configuring_inactive(page.session, user.is_admin, organization)
        await set_policy(
            page.session, page.settings, page.workflows, organization, body,
            actor=Actor.user(user.user.id), context=page.context,
        )  # fmt: skip
        return Notice.done("Automatic top-up policy saved.")

    return await page.run(user, organization_id, command)


@router.post("/webhooks", dependencies=Posted)
async def create_webhook(
    page: SettingsPage, user: Configuring, organization_id: OrganizationChoice = None
) -> Response:
    async def command(organization: int) -> Notice:
        body = webhook_form(await page.request.form(), organization)
        await refuse_configuring_inactive(page.session, user.is_admin, organization)
        made = await page.endpoints(user).create(
            organization, body.url, body.event_types, body.description
        )
        await page.session.commit()
        return Notice.secret_shown(f"Webhook endpoint {made.endpoint.id} created.", made.secret)

    return await page.run(user, organization_id, command)


@router.post("/webhooks/{endpoint_id}/rotate", dependencies=Posted)
async def rotate_webhook_secret(
    page: SettingsPage, user: Configuring, endpoint_id: RowId
) -> Response:
    async def command(organization: int) -> Notice:
        endpoints = page.endpoints(user)
        endpoint = await endpoints.get(endpoint_id, for_update=True)
        await refuse_configuring_inactive(page.session, user.is_admin, organization)
        rotated = await endpoints.rotate_secret(endpoint, DEFAULT_ROTATION_OVERLAP)
        await page.session.commit()
        return Notice.secret_shown(
            f"Webhook endpoint {endpoint_id} has a new secret; the previous one keeps signing "
            f"until {utc(rotated.endpoint.previous_secret_expires_at)}.",
            rotated.secret,
        )

    return await page.run(user, await _endpoint_organization(page, user, endpoint_id), command)


@router.post("/webhooks/{endpoint_id}/test", dependencies=Posted)
async def send_test_event(page: SettingsPage, user: Configuring, endpoint_id: RowId) -> Response:
    async def command(organization: int) -> Notice:
        deliveries = page.deliveries(user)
        endpoint = await page.endpoints(user).get(endpoint_id)
        throttle = limit_test_events(
            app_state(page.request).session_maker, page.settings, organization
        )
        test = await deliveries.record_test_event(endpoint, TestEventRequest().message, throttle)
        await page.session.commit()  # the delivery activity must find the rows
        try:
            await deliveries.start(test)
        except ServiceError:
            await page.session.commit()  # the delivery recorded as failed
            raise
        return Notice.done(f"Test event sent: delivery {test.delivery_id}, see its log below.")

    return await page.run(user, await _endpoint_organization(page, user, endpoint_id), command)


async def _endpoint_organization(page: Page, user: ConsoleUser, endpoint_id: int) -> int | None:
    """The endpoint's organization, which `Page.run` refuses unless the user may act on it (the
    user's own when there is no such endpoint: the command then says so)."""
    try:
        return (await page.endpoints(user).get(endpoint_id)).organization_id
    except ServiceError:
        return user.user.organization_id


def _admin_only(page: Page, user: ConsoleUser) -> Awaitable[ConsoleForbidden]:
    return refuse(
        page.request, page.session, page.context, user,
        "Only admins manage API keys.", organization_id=user.user.organization_id,
    )  # fmt: skip


@router.post("/api-keys", dependencies=Posted)
async def create_api_key(
    page: SettingsPage, user: Configuring, organization_id: OrganizationChoice = None
) -> Response:
    if not user.is_admin:
        raise await _admin_only(page, user)

    async def command(organization: int) -> Notice:
        body = api_key_form(await page.request.form(), organization)
        new = NewApiKey(name=body.name, scopes=tuple(body.scopes), organization_id=organization,
                        all_organizations=False)  # fmt: skip
        record, secret = await api_keys.create_api_key(
            page.session, new, Actor.user(user.user.id), page.context
        )
        await page.session.commit()
        return Notice.secret_shown(f"API key {record.key_prefix} created.", secret)

    return await page.run(user, organization_id, command)


@router.post("/api-keys/{api_key_id}/revoke", dependencies=Posted)
async def revoke_api_key(
    page: SettingsPage,
    user: Configuring,
    api_key_id: RowId,
    organization_id: OrganizationChoice = None,
) -> Response:
    if not user.is_admin:
        raise await _admin_only(page, user)

    async def command(organization: int) -> Notice:
        record = await api_keys.revoke_api_key(
            page.session, api_key_id, Actor.user(user.user.id), page.context
        )
        await page.session.commit()
        return Notice.done(f"API key {record.key_prefix} revoked.")

    return await page.run(user, organization_id, command)
