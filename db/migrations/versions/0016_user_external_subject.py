"""A user's subject at the host system's identity provider (its tokens' `sub`), so a provider
token can name a tokenbill user by subject (IDENTITY_PROVIDER_USER_CLAIM=sub). Null until linked
with `tokenbill user link-subject`; one user per subject.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("external_subject", sa.String(255), nullable=True))
    op.create_unique_constraint("uq_users_external_subject", "users", ["external_subject"])


def downgrade() -> None:
    op.drop_constraint("uq_users_external_subject", "users", type_="unique")
    op.drop_column("users", "external_subject")
