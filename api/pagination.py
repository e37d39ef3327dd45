"""limit/offset query parameters shared by every list."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from api.schemas.common import MAX_OFFSET

MAX_LIMIT = 200


@dataclass(frozen=True)
class Pagination:
    limit: int
    offset: int


def _pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> Pagination:
    return Pagination(limit, offset)


PageParams = Annotated[Pagination, Depends(_pagination)]
