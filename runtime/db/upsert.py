"""``INSERT … ON CONFLICT DO NOTHING`` on either database (both have it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflicts(session: AsyncSession, model: type[Any]) -> Any:
    """An INSERT into ``model`` that skips rows violating any unique constraint."""
    return inserting_ignoring_conflicts(session.get_bind().dialect.name, model)


def inserting_ignoring_conflicts(dialect: str, target: Any) -> Any:
    """The same on the database named ``dialect``, into a model or a table (for statements
    built once per dialect)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        target
    ).on_conflict_do_nothing()
