"""The site's root: the console for a signed-in user, the sign-in page for everyone else."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from web.auth import MaybeSignedIn

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(user: MaybeSignedIn) -> RedirectResponse:
    return RedirectResponse("/tokens" if user is not None else "/sign-in", status_code=303)
