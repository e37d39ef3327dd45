"""spending, API keys, balance alerts (issue 4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 00:40:00
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled in by the work on spending; kept in the chain so every later revision applies."""


def downgrade() -> None:
    """Filled in by the work on spending."""
