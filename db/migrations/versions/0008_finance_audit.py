"""finance reports, audit retention and partitions (issue 5)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 00:45:00
"""

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Filled in by the work on finance_audit; kept in the chain so every later revision applies."""


def downgrade() -> None:
    """Filled in by the work on finance_audit."""
