"""The tenant's do-not-contact list: phone numbers no template goes to (see
runtime/domain/eligibility). Entries are added one by one or imported (CSV or JSON, read by
the contact import's machinery: same phone column detection, same per-line error report)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from datetime import datetime
from itertools import islice

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.contact_fields import FieldError, clean_phone
from runtime.domain.contact_import import (
    CHUNK,
    FatalImportError,
    ImportReport,
    RawRow,
    keep_plans_current,
)
from runtime.domain.errors import Conflict
from runtime.models import DoNotContact

MAX_REASON_CHARS = 200


async def add(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    phone: str,
    reason: str,
    actor_agent_id: uuid.UUID,
    now: datetime,
) -> DoNotContact:
    """List ``phone`` (already E.164); 409 ``already_on_list`` if it is."""
    existing = await session.scalar(
        select(DoNotContact.id).where(
            DoNotContact.tenant_id == tenant_id, DoNotContact.phone == phone
        )
    )
    if existing is not None:
        raise Conflict(
            "already_on_list",
            f"{phone} is already on the do-not-contact list.",
            {"entry_id": str(existing)},
        )
    entry = DoNotContact(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        phone=phone,
        reason=reason[:MAX_REASON_CHARS],
        source="api",
        actor_agent_id=actor_agent_id,
        created_at=now,
    )
    session.add(entry)
    return entry


def _row_phone(raw: RawRow, region: str) -> str:
    if "_too_many_fields" in raw:
        raise FieldError("row", "too_many_fields", "the row has more fields than the header")
    phone = raw.get("phone")
    if phone is None or (isinstance(phone, str) and not phone.strip()):
        raise FieldError("phone", "missing_phone", "phone is required")
    return clean_phone(str(phone), region)


def _row_reason(raw: RawRow, default: str) -> str:
    """A ``reason`` column of a CSV file (an attribute to the contact reader), else ``default``."""
    attributes = raw.get("attributes")
    reason = attributes.get("reason") if isinstance(attributes, dict) else None
    return str(reason)[:MAX_REASON_CHARS] if reason else default


async def import_phones(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    region: str,
    rows: Iterable[tuple[int, RawRow]],
    reason: str,
    actor_agent_id: uuid.UUID,
    now: datetime,
    max_rows: int,
) -> ImportReport:
    """List every valid phone of ``rows`` (``(line, raw row)``); ``created`` counts the new
    entries, ``updated`` the rows already listed (a phone repeated in the import keeps its
    first row's reason). Bad rows are reported by line; more than
    ``max_rows`` rows abort the import (nothing written: one transaction)."""
    report = ImportReport()
    iterator = iter(rows)
    for number in itertools.count(1):
        if not (chunk := list(islice(iterator, CHUNK))):
            break
        await keep_plans_current(session, "do_not_contact", number)
        report.total_rows += len(chunk)
        if report.total_rows > max_rows:
            raise FatalImportError("too_many_rows", f"An import holds at most {max_rows} rows.")
        batch: dict[str, str] = {}
        for line, raw in chunk:
            try:
                batch.setdefault(_row_phone(raw, region), _row_reason(raw, reason))
            except FieldError as err:
                report.add_error(line, err)
        listed = set(
            await session.scalars(
                select(DoNotContact.phone).where(
                    DoNotContact.tenant_id == tenant_id, DoNotContact.phone.in_(batch)
                )
            )
        )
        new = [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "phone": phone,
                "reason": why[:MAX_REASON_CHARS],
                "source": "import",
                "actor_agent_id": actor_agent_id,
                "created_at": now,
            }
            for phone, why in batch.items()
            if phone not in listed
        ]
        if new:
            await session.execute(insert(DoNotContact.__table__), new)  # type: ignore[arg-type]
        report.created += len(new)
        report.updated += len(batch) - len(new)
    return report
