"""The layout's navigation: each entry shown only to users whose permissions open it."""

from collections.abc import Callable
from dataclasses import dataclass

from db.directory import CONFIGURE, PURCHASE, VIEW
from services.access import sees_finance
from web.console_user import ConsoleUser


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    allowed: Callable[[ConsoleUser], bool]


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Wallet", "/tokens", lambda user: user.has(VIEW)),
    NavItem("Balance history", "/tokens/balance", lambda user: user.has(VIEW)),
    NavItem("Buy tokens", "/tokens/purchase", lambda user: user.has(PURCHASE)),
    NavItem("Purchase history", "/tokens/history", lambda user: user.has(VIEW)),
    NavItem("Subscriptions", "/tokens/subscriptions", lambda user: user.has(VIEW)),
    NavItem("Settings", "/tokens/settings", lambda user: user.has(CONFIGURE)),
    NavItem("Finance", "/finance", lambda user: sees_finance(user.user)),
    NavItem("Admin", "/admin", lambda user: user.is_admin),
    NavItem("API docs", "/docs", lambda user: True),
)


def navigation_for(user: ConsoleUser | None) -> list[NavItem]:
    return [] if user is None else [item for item in NAVIGATION if item.allowed(user)]
