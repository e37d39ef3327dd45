"""The site's root: a signed-in admin's administration pages, anyone else's wallet, and the
sign-in page for everyone else."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from db.directory import UserRecord
from web.auth import MaybeSignedIn

router = APIRouter()


def landing(user: UserRecord) -> str:
    """Where a signed-in user starts: admins at /admin, everyone else at /tokens."""
    return "/admin" if user.is_admin else "/tokens"


@router.get("/", include_in_schema=False)
async def home(user: MaybeSignedIn) -> RedirectResponse:
    return RedirectResponse(landing(user.user) if user is not None else "/sign-in", status_code=303)
