"""webhooks and automatic top-up (issue 4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 00:40:00
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled in by the work on auto_topup; kept in the chain so every later revision applies."""


def downgrade() -> None:
    """Filled in by the work on auto_topup."""
