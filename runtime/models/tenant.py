from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db.base import Base, Timestamped, UUIDPk


class Tenant(UUIDPk, Timestamped, Base):
    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_region: Mapped[str] = mapped_column(String(2), default="ID")
    # Last allocated event cursor; locked row-wise so cursors are committed in order.
    event_seq: Mapped[int] = mapped_column(default=0)
