"""`/docs` (Swagger UI) and `/redoc` served with their assets from this app, so they work
offline, and under the console's policy: no inline script (Swagger UI starts from a file)."""

from fastapi import APIRouter, Request, Response

from web.security_headers import content_security_policy
from web.templates import TEMPLATES

router = APIRouter()
DOCS_POLICY = content_security_policy(inline_styles=True, workers=True)


def _page(request: Request, template: str) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"openapi_url": request.app.openapi_url, "title": request.app.title},
        headers={"Content-Security-Policy": DOCS_POLICY},
    )


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    return _page(request, "swagger.html")


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    return _page(request, "redoc.html")
