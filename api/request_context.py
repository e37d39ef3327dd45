"""Per-request identity for logs and audit rows: the request id and the client's address."""

import re
import uuid

from starlette.requests import Request
from starlette.types import Scope

from db.audit import RequestContext

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def choose_request_id(offered: str | None) -> str:
    """The caller's id when it is a sane token (it ends up in audit rows), else a new one."""
    if offered and _ACCEPTABLE_REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


def request_id_of(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def store_request_id(scope: Scope, request_id: str) -> None:
    scope.setdefault("state", {})["request_id"] = request_id


def audit_context(request: Request) -> RequestContext:
    return RequestContext(
        ip_address=request.client.host if request.client else None,
        request_id=request_id_of(request),
    )
