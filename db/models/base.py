"""The declarative base every model derives from, and the column types amounts share.

Amounts are NUMERIC: tokens NUMERIC(20,4), money NUMERIC(18,2), unit prices NUMERIC(18,6).
"""

from datetime import datetime

from sqlalchemy import DateTime, Numeric, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TOKENS = Numeric(20, 4)
MONEY = Numeric(18, 2)
UNIT_PRICE = Numeric(18, 6)


class Base(DeclarativeBase):
    pass


def created_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
