"""What the console refuses, as exceptions its handlers turn into pages: a sign-in redirect, the
403 page, and the refused form (missing or wrong CSRF token)."""


class SignInRequired(Exception):
    """No live session: the browser goes to the sign-in page."""


class ConsoleForbidden(Exception):
    """The signed-in user may not open this page; `user` is a web.auth.ConsoleUser, so the
    403 page keeps the layout's navigation and sign-out."""

    def __init__(self, message: str, user: object) -> None:
        super().__init__(message)
        self.message = message
        self.user = user


class CsrfRefused(Exception):
    """A state-changing form arrived without its CSRF token."""
