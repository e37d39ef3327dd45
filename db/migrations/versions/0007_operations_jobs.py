"""jobs, expiry, reconciliation and forecasts (issue 5)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:45:00
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled in by the work on operations_jobs; kept in the chain so every later revision applies."""


def downgrade() -> None:
    """Filled in by the work on operations_jobs."""
