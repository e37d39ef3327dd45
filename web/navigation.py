"""The layout's navigation: each entry shown only to users whose permissions open it."""

from collections.abc import Callable
from dataclasses import dataclass

from db.directory import VIEW
from web.console_user import ConsoleUser


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    allowed: Callable[[ConsoleUser], bool]


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Wallet", "/tokens", lambda user: user.has(VIEW)),
    NavItem("Balance history", "/tokens/balance", lambda user: user.has(VIEW)),
    NavItem("API docs", "/docs", lambda user: True),
)


def navigation_for(user: ConsoleUser | None) -> list[NavItem]:
    return [] if user is None else [item for item in NAVIGATION if item.allowed(user)]
