"""subscription billing (issue 3)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:40:00
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled in by the work on subscriptions; kept in the chain so every later revision applies."""


def downgrade() -> None:
    """Filled in by the work on subscriptions."""
