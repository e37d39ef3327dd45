"""Stripe's error objects: `{"error": {"type", "code", "decline_code", "message", "param"}}`."""

from typing import Any

from starlette.responses import JSONResponse


class StripeError(Exception):
    """An answer in Stripe's error shape; raise it from a resource handler."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        body: dict[str, Any] = {"type": type_, "message": message}
        if code is not None:
            body["code"] = code
            body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if decline_code is not None:
            body["decline_code"] = decline_code
        if param is not None:
            body["param"] = param
        body.update(extra or {})
        self.body = {"error": body}

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=headers)


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None
) -> StripeError:
    return StripeError(400, "invalid_request_error", message, param=param, code=code)


def missing_param(param: str) -> StripeError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'",
        param=param, code="resource_missing",
    )  # fmt: skip


def unauthorized(message: str) -> StripeError:
    return StripeError(401, "invalid_request_error", message)


def api_error() -> StripeError:
    return StripeError(500, "api_error", "An unknown error occurred, please retry the request.")


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(
        400, "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were first "
        f"used with. Try using a key other than '{key}' if you meant to execute a different "
        "request.",
    )  # fmt: skip


def idempotency_in_use(key: str) -> StripeError:
    return StripeError(
        409, "idempotency_error",
        f"There is currently another in-progress request using this Idempotent Key: {key}. "
        "Please try again later.",
        code="idempotency_key_in_use",
    )  # fmt: skip
