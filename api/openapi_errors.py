"""Error answers every route of a kind gives, written into the OpenAPI document so clients (and
the schema fuzzer) see them: errors are always JSON in the one error shape; a route with a body
answers 400 when the body is not JSON; a route with a path parameter answers 404 when the thing
it names does not exist (or is not the caller's to see)."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from api.schemas.common import ErrorBody

ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}
JSON_ERROR = {"application/json": {"schema": ERROR_SCHEMA}}
MALFORMED_BODY = "The body is not valid JSON, or a required header is missing or malformed."
NOT_FOUND = "The resource named in the path does not exist."


def document_common_errors(app: FastAPI) -> None:
    """Wrap app.openapi so the generated document carries the common error answers."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                _document(operation)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status[0] in "45" and _is_error_body(response):
            response["content"] = JSON_ERROR
    if "requestBody" in operation:
        _ensure(responses, "400", MALFORMED_BODY)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        _ensure(responses, "404", NOT_FOUND)


def _is_error_body(response: dict[str, Any]) -> bool:
    return any(
        media.get("schema") == ERROR_SCHEMA for media in response.get("content", {}).values()
    )


def _ensure(responses: dict[str, Any], status: str, description: str) -> None:
    responses.setdefault(status, {"description": description, "content": JSON_ERROR})


# The answer of every route that changes an organization's configuration, for /docs.
CONFIGURING_INACTIVE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "organization_inactive: the organization is "
          "deactivated; its users may read but not change its configuration."},
}  # fmt: skip


# The answers of the routes that need a card payment provider (PAYMENT_GATEWAY=stripe).
PROVIDER_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "payment_provider_not_configured: the payment "
          "gateway is the sandbox; saved cards and provider records are Stripe's."},
    503: {"model": ErrorBody, "description": "payment_provider_unavailable: Stripe did not do "
          "what was asked; nothing changed, try again."},
}  # fmt: skip
