"""Tenant-scoped fetches: an object of another tenant is indistinguishable from none."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.errors import Conflict, Invalid, NotFound
from runtime.domain.visibility import Viewer, conversations_visible
from runtime.models import Contact, Conversation

M = TypeVar("M")


async def visible_conversation(
    session: AsyncSession, viewer: Viewer, conversation_id: uuid.UUID
) -> tuple[Conversation, Contact]:
    """The conversation and its contact, if the viewer may read it (404 otherwise)."""
    row = (
        await session.execute(
            select(Conversation, Contact)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id == conversation_id, conversations_visible(viewer))
        )
    ).one_or_none()
    if row is None:
        raise NotFound("Conversation")
    return row[0], row[1]


async def get_owned(
    session: AsyncSession, model: type[M], id_: uuid.UUID, tenant_id: uuid.UUID
) -> M:
    obj = await session.get(model, id_)
    if obj is None or obj.tenant_id != tenant_id:  # type: ignore[attr-defined]
        raise NotFound(model.__name__)
    return obj


async def ensure_owned_ids(
    session: AsyncSession, model: Any, ids: Iterable[uuid.UUID], tenant_id: uuid.UUID, field: str
) -> list[uuid.UUID]:
    """The distinct ids, in order, after checking all belong to the tenant (422 otherwise)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = set(
        (
            await session.execute(
                select(model.id).where(model.id.in_(wanted), model.tenant_id == tenant_id)
            )
        ).scalars()
    )
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise Invalid(
            "unknown_reference",
            f"Unknown {model.__name__.lower()} id(s) in {field}.",
            [{"field": field, "ids": missing}],
        )
    return wanted


async def ensure_name_free(
    session: AsyncSession,
    model: Any,
    tenant_id: uuid.UUID,
    name: str,
    except_id: uuid.UUID | None = None,
) -> None:
    """409 when another object of ``model`` in the tenant already has this name."""
    stmt = select(model.id).where(model.tenant_id == tenant_id, model.name == name)
    if except_id:
        stmt = stmt.where(model.id != except_id)
    if await session.scalar(stmt):
        kind = model.__name__.lower()
        raise Conflict(f"{kind}_name_taken", f"A {kind} named {name!r} already exists.")


def json_list_contains(column: Any, value: str, dialect: str) -> ColumnElement[bool]:
    """SQL: the JSON list in ``column`` holds ``value`` (PostgreSQL ``@>``, SQLite json_each)."""
    if dialect == "postgresql":
        return cast(column, JSONB).contains([value])
    items = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value == value))
