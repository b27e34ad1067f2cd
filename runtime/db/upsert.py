"""``INSERT … ON CONFLICT DO NOTHING`` on either database (both have it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite


def inserting_ignoring_conflicts(dialect: str, target: Any) -> Any:
    """An INSERT into ``target`` (a model or a table) on the database named ``dialect``
    that skips rows violating any unique constraint (for statements built once)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        target
    ).on_conflict_do_nothing()
