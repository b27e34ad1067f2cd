"""Audiences: saved segments over a tenant's contacts, turned into one SQL condition.

A definition is a tree of groups and conditions (docs/campaigns.md has the full table)::

    {"all": [{"field": "tags", "op": "has", "value": "vip"},
             {"any": [{"field": "attributes.city", "op": "eq", "value": "Jakarta"},
                      {"field": "last_inbound_at", "op": "within_days", "value": 30}]}]}

:func:`condition` checks the whole tree and builds the ``WHERE`` on ``contacts`` (the tenant
filter always added); anything it does not understand is a 422 ``invalid_audience`` naming
the path of the bad part. The database evaluates it; nothing loops over contacts in Python.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.consent import OPTED_IN, OPTED_OUT, UNKNOWN
from runtime.domain.errors import Invalid
from runtime.domain.lookup import json_list_contains
from runtime.models import Contact, Conversation, Message

MAX_DEPTH = 4
MAX_CONDITIONS = 50
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
POOL_STATES = ("assigned", "pooled")
CONSENT_STATES = (OPTED_IN, OPTED_OUT, UNKNOWN)


class _Context:
    """What building a condition needs: the backend, the moment, a running count."""

    def __init__(self, dialect: str, now: datetime) -> None:
        self.dialect = dialect
        self.now = now
        self.conditions = 0


def _bad(path: str, message: str) -> Invalid:
    return Invalid("invalid_audience", f"{path}: {message}", [{"path": path, "message": message}])


def condition(
    definition: Any, tenant_id: uuid.UUID, dialect: str, now: datetime
) -> ColumnElement[bool]:
    """The SQL condition on ``contacts`` for ``definition`` (422 if it is not one)."""
    return (Contact.tenant_id == tenant_id) & _node(definition, _Context(dialect, now), "$", 0)


def validate(definition: Any) -> None:
    """422 unless ``definition`` is a well-formed audience (both backends accept the same)."""
    condition(definition, uuid.uuid4(), "sqlite", datetime.now())


async def count(session: AsyncSession, tenant_id: uuid.UUID, definition: Any, now: datetime) -> int:
    dialect = session.get_bind().dialect.name
    where = condition(definition, tenant_id, dialect, now)
    return int(await session.scalar(select(func.count()).select_from(Contact).where(where)) or 0)


def _node(node: Any, ctx: _Context, path: str, depth: int) -> ColumnElement[bool]:
    if not isinstance(node, dict):
        raise _bad(path, "expected an object")
    groups = [key for key in ("all", "any", "not") if key in node]
    if groups:
        if len(node) != 1:
            raise _bad(path, "a group holds exactly one of all / any / not")
        return _group(groups[0], node[groups[0]], ctx, f"{path}.{groups[0]}", depth)
    return _leaf(node, ctx, path)


def _group(kind: str, body: Any, ctx: _Context, path: str, depth: int) -> ColumnElement[bool]:
    if depth >= MAX_DEPTH:
        raise _bad(path, f"groups nest at most {MAX_DEPTH} deep")
    if kind == "not":
        return not_(_node(body, ctx, path, depth + 1))
    if not isinstance(body, list) or not body:
        raise _bad(path, "expected a non-empty list of conditions")
    parts = [_node(item, ctx, f"{path}[{i}]", depth + 1) for i, item in enumerate(body)]
    return and_(*parts) if kind == "all" else or_(*parts)


def _leaf(node: dict[str, Any], ctx: _Context, path: str) -> ColumnElement[bool]:
    unknown = sorted(set(node) - {"field", "op", "value"})
    if unknown:
        raise _bad(path, f"unknown key(s) {unknown}")
    ctx.conditions += 1
    if ctx.conditions > MAX_CONDITIONS:
        raise _bad(path, f"at most {MAX_CONDITIONS} conditions")
    field, op, value = node.get("field"), node.get("op"), node.get("value")
    if not isinstance(field, str) or not isinstance(op, str):
        raise _bad(path, "a condition needs a string field and op")
    if field.startswith("attributes."):
        return _attribute(field.removeprefix("attributes."), op, value, ctx, path)
    builder = _FIELDS.get(field)
    if builder is None:
        raise _bad(path, f"unknown field {field!r}; one of {sorted(_FIELDS)} or attributes.<key>")
    return builder(op, value, ctx, path)


# ---- fields -----------------------------------------------------------------------------------


def _strings(value: Any, path: str, one: bool = False) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise _bad(path, "value must be a string" + ("" if one else " or a list of strings"))
    if one and len(values) != 1:
        raise _bad(path, "value must be one string")
    return values


def _tags(op: str, value: Any, ctx: _Context, path: str) -> ColumnElement[bool]:
    if op not in ("has", "has_any", "has_all", "has_none"):
        raise _bad(path, "tags take has / has_any / has_all / has_none")
    tags = _strings(value, path, one=op == "has")
    held = [json_list_contains(Contact.tags, tag, ctx.dialect) for tag in tags]
    if op == "has_none":
        return not_(or_(*held))
    return or_(*held) if op == "has_any" else and_(*held)


def _uuids(value: Any, path: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in _strings(value, path)]
    except ValueError:
        raise _bad(path, "value must be id(s)") from None


def _owner(column: Any) -> Callable[[str, Any, _Context, str], ColumnElement[bool]]:
    def build(op: str, value: Any, ctx: _Context, path: str) -> ColumnElement[bool]:
        if op == "is_null":
            return column.is_(None)
        if op == "not_null":
            return column.is_not(None)
        if op in ("eq", "in"):
            return column.in_(_uuids(value, path))
        raise _bad(path, "owners take eq / in / is_null / not_null")

    return build


def _pool(op: str, value: Any, ctx: _Context, path: str) -> ColumnElement[bool]:
    if op != "eq" or value not in POOL_STATES:
        raise _bad(path, f"pool takes eq with one of {list(POOL_STATES)}")
    assigned = Contact.assigned_agent_id.is_not(None)
    return assigned if value == "assigned" else not_(assigned)


def _consent(op: str, value: Any, ctx: _Context, path: str) -> ColumnElement[bool]:
    states = _strings(value, path)
    if op not in ("eq", "in", "ne", "not_in") or not set(states) <= set(CONSENT_STATES):
        raise _bad(path, f"consent takes eq / in / ne / not_in with {list(CONSENT_STATES)}")
    within = Contact.consent_state.in_(states)
    return within if op in ("eq", "in") else not_(within)


def _import_job(op: str, value: Any, ctx: _Context, path: str) -> ColumnElement[bool]:
    if op not in ("eq", "in"):
        raise _bad(path, "import_job takes eq / in with import job id(s)")
    return Contact.import_job_id.in_(_uuids(value, path))


def _moment(
    column: Any, nullable: bool
) -> Callable[[str, Any, _Context, str], ColumnElement[bool]]:
    def build(op: str, value: Any, ctx: _Context, path: str) -> ColumnElement[bool]:
        if op == "never" and nullable:
            return column.is_(None)
        if op in ("before", "after"):
            moment = _datetime(value, path)
            return column < moment if op == "before" else column >= moment
        if op in ("within_days", "older_than_days"):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 3650:
                raise _bad(path, "value must be a whole number of days, 1-3650")
            since = ctx.now - timedelta(days=value)
            return column >= since if op == "within_days" else column < since
        ops = "before / after / within_days / older_than_days" + (" / never" if nullable else "")
        raise _bad(path, f"times take {ops}")

    return build


def _datetime(value: Any, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _bad(path, "value must be an ISO 8601 time with its offset")
    return moment


_last_inbound = (
    select(func.max(Conversation.last_inbound_at))
    .where(Conversation.contact_id == Contact.id)
    .scalar_subquery()
)
_last_outbound = (
    select(func.max(Message.created_at))
    .join(Conversation, Conversation.id == Message.conversation_id)
    .where(Conversation.contact_id == Contact.id, Message.direction == "outbound")
    .scalar_subquery()
)

_FIELDS: dict[str, Callable[[str, Any, _Context, str], ColumnElement[bool]]] = {
    "tags": _tags,
    "owner_agent": _owner(Contact.assigned_agent_id),
    "owner_team": _owner(Contact.assigned_team_id),
    "pool": _pool,
    "consent": _consent,
    "import_job": _import_job,
    "created_at": _moment(Contact.created_at, nullable=False),
    "last_inbound_at": _moment(_last_inbound, nullable=True),
    "last_outbound_at": _moment(_last_outbound, nullable=True),
}


# ---- attributes -------------------------------------------------------------------------------


def _attribute(key: str, op: str, value: Any, ctx: _Context, path: str) -> ColumnElement[bool]:
    if not _ATTRIBUTE_KEY.match(key):
        raise _bad(path, "attribute keys are letters, digits, '_', '.', '-' (start with a letter)")
    text = Contact.attributes[key].as_string()
    if op == "exists":
        return text.is_not(None)
    if op == "not_exists":
        return text.is_(None)
    if op in ("eq", "ne", "in", "not_in"):
        scalars = value if op.endswith("in") else [value]
        if not isinstance(scalars, list) or not scalars or not all(_scalar(v) for v in scalars):
            raise _bad(path, "value must be a string, number or boolean (a list for in/not_in)")
        within = text.in_([_as_text(v, ctx.dialect) for v in scalars])
        return within if op in ("eq", "in") else or_(text.is_(None), not_(within))
    if op == "contains":
        if not isinstance(value, str) or not value:
            raise _bad(path, "contains needs a non-empty string")
        pattern = "%" + value.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        return func.lower(text).like(pattern + "%", escape="\\")
    if op in ("gt", "gte", "lt", "lte"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _bad(path, f"{op} needs a number")
        number = _as_number(text, ctx.dialect)
        compare = {"gt": number > value, "gte": number >= value}
        compare |= {"lt": number < value, "lte": number <= value}
        return compare[op]
    raise _bad(
        path, "attributes take eq / ne / in / not_in / contains / gt / gte / lt / lte / exists"
    )


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _as_text(value: Any, dialect: str) -> str:
    """How the database reads a stored scalar back as text (``true`` is 1 in SQLite)."""
    if isinstance(value, bool):
        return ("true" if value else "false") if dialect == "postgresql" else str(int(value))
    return str(value)


def _as_number(text: Any, dialect: str) -> ColumnElement[Any]:
    """The attribute as a number when it reads as one (numbers imported as text count too),
    else NULL (no comparison holds) — never a cast error on a non-numeric value."""
    if dialect == "postgresql":
        numeric = text.op("~")(_NUMBER)
    else:
        numeric = and_(text != "", text.op("NOT GLOB")("*[^0-9.-]*"))
    return case((numeric, cast(text, Float)), else_=literal(None))
