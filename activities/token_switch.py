"""ENABLE_TOKEN_SYSTEM in the worker: while it is false no activity moves money.

A refused step raises a retryable error, not a final one: the workflows retry their charges and
top-up evaluations without limit, at most a minute apart, so they wait rather than fail, and the
first attempt after the worker restarts with the switch on goes ahead under the same business
key. Steps after a captured charge (crediting, invoicing) still run: that money already moved.
"""

from temporalio.exceptions import ApplicationError

from tokenbill.settings import Settings

TOKEN_SYSTEM_DISABLED = "TokenSystemDisabled"


def refuse_while_switched_off(settings: Settings, what: str) -> None:
    """Raise the retryable TokenSystemDisabled error while ENABLE_TOKEN_SYSTEM is false."""
    if not settings.enable_token_system:
        raise ApplicationError(
            f"ENABLE_TOKEN_SYSTEM is false: {what} waits until it is true again",
            type=TOKEN_SYSTEM_DISABLED,
        )
