"""The directory's refusals reach the API as service errors with the same code and sentence; the
one the API cannot provoke (an unknown role, 400) is left as it is."""

import pytest

from db.api_keys import OrganizationRequired
from db.directory import AlreadyExists, DirectoryError, NotFound, UnknownPermission
from services.administration.directory_errors import directory_refusals
from services.errors import ErrorKind, ServiceError


@pytest.mark.parametrize(
    ("refusal", "kind"),
    [
        (NotFound("user 7 does not exist"), ErrorKind.NOT_FOUND),
        (AlreadyExists("a user with email a@b.c already exists"), ErrorKind.CONFLICT),
        (UnknownPermission("unknown permission(s) x"), ErrorKind.INVALID),
        (OrganizationRequired("bind the key to one organization"), ErrorKind.INVALID),
    ],
)
def test_a_directory_refusal_is_a_service_error_of_its_kind(
    refusal: DirectoryError, kind: ErrorKind
) -> None:
    with pytest.raises(ServiceError) as raised, directory_refusals():
        raise refusal
    assert (raised.value.kind, raised.value.code, raised.value.message) == (
        kind,
        refusal.code,
        str(refusal),
    )


def test_an_unknown_role_stays_a_directory_error() -> None:
    with pytest.raises(DirectoryError), directory_refusals():
        raise DirectoryError("role must be one of admin, user")
