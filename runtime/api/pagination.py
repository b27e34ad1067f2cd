"""Keyset (cursor) pagination over ``(<timestamp>, id)``, newest first."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Invalid

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{id_}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        stamp, id_ = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(stamp), uuid.UUID(id_)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("invalid_cursor", "The cursor is malformed.") from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    model: Any,
    cursor: str | None,
    limit: int,
    key: str = "created_at",
) -> tuple[list[Any], str | None]:
    """Rows of ``stmt`` (which selects ``model``) after ``cursor``, newest ``key`` first,
    and the next cursor (None on the last page). ``key`` must be a non-null datetime."""
    column = getattr(model, key)
    if cursor:
        moment, id_ = decode_cursor(cursor)
        stmt = stmt.where(or_(column < moment, and_(column == moment, model.id < id_)))
    stmt = stmt.order_by(column.desc(), model.id.desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(getattr(rows[-1], key), rows[-1].id)
    return rows, next_cursor


def _encode_position(position: int) -> str:
    return base64.urlsafe_b64encode(f"seq|{position}".encode()).decode()


def _decode_position(cursor: str) -> int:
    try:
        tag, position = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        if tag != "seq":
            raise ValueError(tag)
        return int(position)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("invalid_cursor", "The cursor is malformed.") from exc


async def paginate_by_position(
    session: AsyncSession, stmt: Select[Any], column: Any, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """Like ``paginate`` over a unique integer ``column`` (highest first), e.g. a message's
    place in its conversation, where timestamps tie."""
    if cursor:
        stmt = stmt.where(column < _decode_position(cursor))
    rows = list((await session.execute(stmt.order_by(column.desc()).limit(limit + 1))).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, _encode_position(getattr(rows[-1], column.key))
