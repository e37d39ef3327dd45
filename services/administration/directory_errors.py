"""The directory's refusals (db.directory, db.api_keys) as service errors, with the same codes
and sentences."""

from collections.abc import Iterator
from contextlib import contextmanager

from db.directory import DirectoryError
from services.errors import ErrorKind, ServiceError

KIND_OF_STATUS: dict[int, ErrorKind] = {
    404: ErrorKind.NOT_FOUND,
    409: ErrorKind.CONFLICT,
    422: ErrorKind.INVALID,
}


@contextmanager
def directory_refusals() -> Iterator[None]:
    """Raise a DirectoryError inside as the ServiceError of its kind. The directory's one other
    refusal (400, an unknown role) is left as it is: the API's bodies cannot send one."""
    try:
        yield
    except DirectoryError as exc:
        kind = KIND_OF_STATUS.get(exc.status)
        if kind is None:
            raise
        raise ServiceError(kind, exc.code, str(exc)) from exc
