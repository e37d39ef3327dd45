"""What the console refuses, as exceptions its handlers turn into pages: a sign-in redirect, the
403 page, and the refused form (missing or wrong CSRF token)."""

from web.console_user import ConsoleUser


class SignInRequired(Exception):
    """No live session: the browser goes to the sign-in page."""


class ConsoleForbidden(Exception):
    """The signed-in user may not open this page (the 403 page keeps its navigation)."""

    def __init__(self, message: str, user: ConsoleUser) -> None:
        super().__init__(message)
        self.message = message
        self.user = user


class CsrfRefused(Exception):
    """A state-changing form arrived without its CSRF token."""
