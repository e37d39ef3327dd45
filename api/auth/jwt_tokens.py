"""Bearer tokens: HS256 JWTs whose subject is a user id. Permissions are read from the database
on every request, never from the token, so a grant or revocation takes effect at once."""

from datetime import UTC, datetime

import jwt

from tokenbill.settings import Settings

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not ours."""


def issue_token(settings: Settings, user_id: int, *, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iss": settings.jwt_issuer,
        "iat": int(issued.timestamp()),
        "exp": int((issued + settings.jwt_ttl).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def user_id_from_token(settings: Settings, token: str) -> int:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iss"]},
        )
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc
