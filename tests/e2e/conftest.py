"""End-to-end tests read and seed the running stack's own database."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@pytest.fixture(scope="session")
def session_maker(
    stack_session_maker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """The stack's database (overrides the session's)."""
    return stack_session_maker
