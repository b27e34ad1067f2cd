"""Contacts: CRUD, bulk JSON and CSV imports, assignment and history."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.api.deps import Principal, PrincipalDep, SessionDep, SettingsDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.schemas.contacts import (
    AssignIn,
    AssignmentOut,
    BulkAssignIn,
    BulkImportIn,
    ContactCreate,
    ContactOut,
    ContactUpdate,
    ImportJobOut,
)
from runtime.domain import assignment
from runtime.domain.audit import audit
from runtime.domain.contact_fields import (
    FieldError,
    clean_attributes,
    clean_contact,
    clean_email,
    clean_name,
    clean_phone,
    clean_tags,
    clean_time_zone,
)
from runtime.domain.contact_import import (
    FatalImportError,
    ImportReport,
    RawRow,
    read_csv,
    upsert_contacts,
)
from runtime.domain.errors import Conflict, Invalid, NotFound
from runtime.domain.lookup import get_owned, json_list_contains
from runtime.domain.visibility import contacts_visible as visible
from runtime.models import Agent, AssignmentEvent, Contact, ImportJob, Team

router = APIRouter(prefix="/api/contacts", tags=["contacts"])

READ = perm("contacts:read:all", "contacts:read:assigned")


async def visible_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> Contact:
    contact = await session.scalar(
        select(Contact).where(Contact.id == contact_id, visible(principal))
    )
    if contact is None:
        raise NotFound("Contact")
    return contact


def _field_error(err: FieldError) -> Invalid:
    return Invalid(
        err.code, err.message, [{"field": err.field, "message": err.message, "type": err.code}]
    )


@router.get("", response_model=Page[ContactOut], dependencies=[READ])
async def list_contacts(
    principal: PrincipalDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    agent_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    pooled: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[ContactOut]:
    stmt = select(Contact).where(visible(principal))
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(Contact.name.ilike(like) | Contact.phone.like(like))
    if agent_id:
        stmt = stmt.where(Contact.assigned_agent_id == agent_id)
    if team_id:
        stmt = stmt.where(Contact.assigned_team_id == team_id)
    if pooled is not None:
        stmt = stmt.where(
            Contact.assigned_agent_id.is_(None) if pooled else Contact.assigned_agent_id.isnot(None)
        )
    if tag:
        stmt = stmt.where(json_list_contains(Contact.tags, tag, session.get_bind().dialect.name))
    rows, next_cursor = await paginate(session, stmt, Contact, cursor, limit)
    return Page(items=[ContactOut.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.post(
    "",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[perm("contacts:write")],
)
async def create_contact(
    body: ContactCreate, principal: PrincipalDep, session: SessionDep
) -> Contact:
    try:
        fields = clean_contact(
            principal.region,
            body.phone,
            body.name,
            body.email,
            body.attributes,
            body.tags,
        )
        zone = clean_time_zone(body.time_zone)
    except FieldError as err:
        raise _field_error(err) from err
    await _phone_free(session, principal.tenant_id, fields.phone)
    contact = Contact(
        tenant_id=principal.tenant_id,
        phone=fields.phone,
        name=fields.name or "",
        email=fields.email,
        attributes=fields.attributes,
        tags=fields.tags,
        time_zone=zone,
    )
    session.add(contact)
    await session.flush()
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "contact.create",
        "contact",
        contact.id,
        {"phone": fields.phone},
    )
    await session.commit()
    return contact


async def _phone_free(
    session: AsyncSession, tenant_id: uuid.UUID, phone: str, except_id: uuid.UUID | None = None
) -> None:
    stmt = select(Contact.id).where(Contact.tenant_id == tenant_id, Contact.phone == phone)
    if except_id:
        stmt = stmt.where(Contact.id != except_id)
    if existing := await session.scalar(stmt):
        raise Conflict(
            "phone_taken",
            f"A contact with phone {phone} already exists.",
            {"contact_id": str(existing)},
        )


@router.get("/{contact_id}", response_model=ContactOut, dependencies=[READ])
async def get_contact(
    contact_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Contact:
    return await visible_contact(session, principal, contact_id)


@router.patch("/{contact_id}", response_model=ContactOut, dependencies=[perm("contacts:write")])
async def update_contact(
    contact_id: uuid.UUID, body: ContactUpdate, principal: PrincipalDep, session: SessionDep
) -> Contact:
    contact = await get_owned(session, Contact, contact_id, principal.tenant_id)
    try:
        if body.phone is not None:
            phone = clean_phone(body.phone, principal.region)
            await _phone_free(session, principal.tenant_id, phone, except_id=contact.id)
            contact.phone = phone
        if body.name is not None:
            contact.name = clean_name(body.name) or ""
        if "email" in body.model_fields_set:
            contact.email = clean_email(body.email)
        if body.attributes is not None:
            contact.attributes = clean_attributes(body.attributes)
        if body.tags is not None:
            contact.tags = clean_tags(body.tags)
        if "time_zone" in body.model_fields_set:
            contact.time_zone = clean_time_zone(body.time_zone)
    except FieldError as err:
        raise _field_error(err) from err
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "contact.update",
        "contact",
        contact.id,
        body.model_dump(exclude_unset=True),
    )
    await session.commit()
    return contact


@router.delete(
    "/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[perm("contacts:write")],
)
async def delete_contact(
    contact_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> None:
    contact = await get_owned(session, Contact, contact_id, principal.tenant_id)
    await session.delete(contact)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "contact.delete",
        "contact",
        contact_id,
        {"phone": contact.phone},
    )
    await session.commit()


async def _run_import(
    session: AsyncSession,
    principal: Principal,
    source: str,
    rows: Any,
    max_rows: int,
) -> ImportJob:
    """Upsert everything in one transaction; on a fatal error keep only a failed job row."""
    job_id = uuid.uuid4()
    try:
        report = await upsert_contacts(
            session,
            principal.tenant_id,
            principal.region,
            rows,
            max_rows,
            visible(principal),
            job_id,
        )
    except FatalImportError as exc:
        await session.rollback()
        job = _job(job_id, principal, source, ImportReport(), "failed", exc.message)
        session.add(job)
        await session.commit()
        exc.details = {**(exc.details or {}), "job_id": str(job.id)}
        raise
    job = _job(job_id, principal, source, report, "completed")
    session.add(job)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "contact.import",
        "import_job",
        job.id,
        {
            "source": source,
            "created": report.created,
            "updated": report.updated,
            "errors": report.error_count,
        },
    )
    await session.commit()
    return job


def _job(
    job_id: uuid.UUID,
    principal: Principal,
    source: str,
    report: ImportReport,
    status: str,
    fatal: str | None = None,
) -> ImportJob:
    return ImportJob(
        id=job_id,
        tenant_id=principal.tenant_id,
        source=source,
        status=status,
        total_rows=report.total_rows,
        created_count=report.created,
        updated_count=report.updated,
        error_count=report.error_count,
        errors=report.errors,
        fatal_error=fatal,
        actor_agent_id=principal.agent_id,
    )


@router.post("/bulk", response_model=ImportJobOut, dependencies=[perm("contacts:import")])
async def bulk_import(
    body: BulkImportIn, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> ImportJob:
    """Upsert up to 10,000 contacts by phone; errors are reported by index (``line`` = index)."""
    rows: list[tuple[int, RawRow]] = list(enumerate(body.contacts))
    return await _run_import(session, principal, "json", rows, settings.max_import_rows)


def parse_mapping(mapping: str | None) -> dict[str, str] | None:
    if not mapping:
        return None
    try:
        value = json.loads(mapping)
    except json.JSONDecodeError as exc:
        raise Invalid("invalid_mapping", "mapping must be a JSON object.") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise Invalid("invalid_mapping", 'mapping must look like {"phone": "Column name"}.')
    return value


@router.post("/imports", response_model=ImportJobOut, dependencies=[perm("contacts:import")])
async def import_csv(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV, UTF-8, header line first")],
    mapping: Annotated[str | None, Form(description='e.g. {"phone": "Nomor HP"}')] = None,
) -> ImportJob:
    """Upsert contacts from a CSV file; bad rows are reported with their line numbers. The
    body limit (``max_upload_bytes``) is enforced while it streams in (runtime/api/body_limits)."""
    rows = read_csv(file.file, parse_mapping(mapping))
    return await _run_import(session, principal, "csv", rows, settings.max_import_rows)


@router.get(
    "/imports/{job_id}", response_model=ImportJobOut, dependencies=[perm("contacts:import")]
)
async def get_import(job_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> ImportJob:
    return await get_owned(session, ImportJob, job_id, principal.tenant_id)


async def _targets(
    session: AsyncSession, principal: Principal, body: AssignIn
) -> tuple[Agent | None, Team | None]:
    agent = (
        await get_owned(session, Agent, body.agent_id, principal.tenant_id)
        if body.agent_id
        else None
    )
    team = (
        await get_owned(session, Team, body.team_id, principal.tenant_id) if body.team_id else None
    )
    return agent, team


@router.post(
    "/{contact_id}/assign", response_model=AssignmentOut, dependencies=[perm("contacts:assign")]
)
async def assign_contact(
    contact_id: uuid.UUID, body: AssignIn, principal: PrincipalDep, session: SessionDep
) -> AssignmentEvent:
    contact = await get_owned(session, Contact, contact_id, principal.tenant_id)
    agent, team = await _targets(session, principal, body)
    entry = await assignment.assign(session, contact, principal.agent_id, agent, team)
    await session.commit()
    return entry


@router.post("/assign", response_model=list[AssignmentOut], dependencies=[perm("contacts:assign")])
async def bulk_assign(
    body: BulkAssignIn, principal: PrincipalDep, session: SessionDep
) -> list[AssignmentEvent]:
    """Assign many contacts at once (all or nothing); a team target spreads them by strategy."""
    agent, team = await _targets(session, principal, body)
    contacts = list(
        (
            await session.execute(
                select(Contact).where(
                    Contact.id.in_(body.contact_ids), Contact.tenant_id == principal.tenant_id
                )
            )
        ).scalars()
    )
    missing = set(body.contact_ids) - {c.id for c in contacts}
    if missing:
        raise Invalid(
            "unknown_reference",
            "Unknown contact id(s).",
            [{"field": "contact_ids", "ids": sorted(str(m) for m in missing)}],
        )
    entries = [
        await assignment.assign(session, c, principal.agent_id, agent, team) for c in contacts
    ]
    await session.commit()
    return entries


@router.post("/{contact_id}/claim", response_model=AssignmentOut, dependencies=[perm("pool:claim")])
async def claim_contact(
    contact_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> AssignmentEvent:
    contact = await get_owned(session, Contact, contact_id, principal.tenant_id)
    entry = await assignment.claim(session, contact, principal.agent_id)
    await session.commit()
    return entry


@router.post(
    "/{contact_id}/release",
    response_model=AssignmentOut,
    dependencies=[perm("pool:claim", "contacts:assign")],
)
async def release_contact(
    contact_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> AssignmentEvent:
    """Agents release their own contacts; holders of ``contacts:assign`` release any."""
    contact = await get_owned(session, Contact, contact_id, principal.tenant_id)
    owner = contact.assigned_agent_id
    if owner not in (None, principal.agent_id) and not principal.can("contacts:assign"):
        raise Conflict(
            "not_yours", "Only the assigned agent or a supervisor can release this contact."
        )
    entry = await assignment.release(session, contact, principal.agent_id)
    await session.commit()
    return entry


@router.get("/{contact_id}/assignments", response_model=list[AssignmentOut], dependencies=[READ])
async def assignment_history(
    contact_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> list[AssignmentEvent]:
    contact = await visible_contact(session, principal, contact_id)
    rows = await session.execute(
        select(AssignmentEvent)
        .where(AssignmentEvent.contact_id == contact.id)
        .order_by(AssignmentEvent.created_at.desc())
        .limit(500)
    )
    return list(rows.scalars())
