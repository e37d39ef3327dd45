"""The declarative base every model derives from, and the column types amounts share.

Amounts are NUMERIC: tokens NUMERIC(20,4), money NUMERIC(18,2), unit prices NUMERIC(18,6).
"""

from datetime import datetime

from sqlalchemy import DateTime, Numeric, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TOKENS = Numeric(20, 4)
MONEY = Numeric(18, 2)
UNIT_PRICE = Numeric(18, 6)

# Every organisation table's primary key is (organization_id, id) in the database (migration 0021,
# docs/distributed-schema.md); the models keep `id` as the ORM's identity, which stays unique by
# its sequence, so a row is still found by its id. Platform rows of the two tables that also hold
# them (the outbox and the audit log) carry this key, which no organisation has.
PLATFORM_ORGANIZATION_KEY = 0


class Base(DeclarativeBase):
    pass


def created_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
