"""What every admin page needs: the signed-in admin (others get the audited 403 page), the
actor its commands are audited as, the workflow client, and the sentences a finished command
leaves on the page it returns to."""

from typing import Annotated

from fastapi import Depends, Request
from pydantic import ValidationError

from api.state import app_state
from db.audit import Actor
from services.errors import ErrorKind, ServiceError
from tokenbill.workflow_client import WorkflowClient
from web.auth import SignedIn, refuse
from web.console_user import ConsoleUser
from web.context import Context, DbSession

ADMINS_ONLY = "The administration pages are for admins."

DONE: dict[str, str] = {
    "organization_created": "The organization was created.",
    "organization_deactivated": "The organization was deactivated.",
    "organization_reactivated": "The organization was reactivated.",
    "user_created": "The user was created.",
    "permission_granted": "The permission was granted.",
    "permission_revoked": "The permission was revoked.",
    "user_deactivated": "The user was deactivated.",
    "password_set": "The password was set; the user's console sessions were ended.",
    "job_started": "The job was started.",
    "dispute_released": "The dispute was decided: its frozen tokens went back to the wallet.",
    "dispute_forfeited": "The dispute was decided: its frozen tokens were forfeited.",
}


async def admin_only(
    request: Request, session: DbSession, context: Context, user: SignedIn
) -> ConsoleUser:
    if not user.is_admin:
        raise await refuse(
            request, session, context, user, ADMINS_ONLY,
            organization_id=user.user.organization_id,
        )  # fmt: skip
    return user


def workflow_client(request: Request) -> WorkflowClient:
    return app_state(request).workflows


def actor(admin: ConsoleUser) -> Actor:
    return Actor.user(admin.user.id)


def notice(done: str | None) -> str | None:
    """The sentence for a finished command named in the query (unknown names say nothing)."""
    return DONE.get(done or "")


AdminUser = Annotated[ConsoleUser, Depends(admin_only)]
Workflows = Annotated[WorkflowClient, Depends(workflow_client)]


STATUS_OF_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAVAILABLE: 503,
}


def status_of(error: ServiceError) -> int:
    """The status a page refused by the service answers with (the API's for the same kind)."""
    return STATUS_OF_KIND.get(error.kind, 400)


def form_problem(error: ValidationError) -> str:
    """A form's first invalid field, said in one line."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "form"
    return f"{field}: {first['msg']}"
