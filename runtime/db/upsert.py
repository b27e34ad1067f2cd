"""``INSERT … ON CONFLICT DO NOTHING`` on either database (both have it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflicts(session: AsyncSession, model: type[Any]) -> Any:
    """An INSERT into ``model`` that skips rows violating any unique constraint."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        model
    ).on_conflict_do_nothing()
