"""Marketing consent of a contact, the tenant's outreach rules, its do-not-contact list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.api.deps import ClockDep, Principal, PrincipalDep, SessionDep, SettingsDep, perm
from runtime.api.pagination import Page, paginate
from runtime.api.routers.contacts import READ as CONTACTS_READ
from runtime.api.routers.contacts import parse_mapping, visible_contact
from runtime.api.schemas.consent import (
    ConsentChangeOut,
    ConsentIn,
    ContactConsentOut,
    DoNotContactBulkIn,
    DoNotContactImportOut,
    DoNotContactIn,
    DoNotContactOut,
    MarketingLimit,
    PolicyIn,
    PolicyOut,
    QuietHours,
)
from runtime.clock import utc_now
from runtime.db.base import as_utc
from runtime.domain import consent, do_not_contact
from runtime.domain.audit import audit
from runtime.domain.contact_fields import FieldError, clean_phone
from runtime.domain.contact_import import ImportReport, RawRow, read_csv
from runtime.domain.eligibility import on_do_not_contact
from runtime.domain.errors import Invalid
from runtime.domain.lookup import get_owned
from runtime.models import ConsentChange, Contact, DoNotContact, OutreachPolicy

router = APIRouter(prefix="/api", tags=["consent"])
DNC = "/consent/do-not-contact"


async def _contact_consent(session: AsyncSession, contact: Contact) -> ContactConsentOut:
    history = await session.scalars(
        select(ConsentChange)
        .where(ConsentChange.contact_id == contact.id)
        .order_by(ConsentChange.created_at.desc(), ConsentChange.id.desc())
        .limit(500)
    )
    listed = contact.phone is not None and await on_do_not_contact(
        session, contact.tenant_id, contact.phone
    )
    return ContactConsentOut(
        contact_id=contact.id,
        state=contact.consent_state,
        updated_at=contact.consent_updated_at,
        do_not_contact=listed,
        time_zone=contact.time_zone,
        history=[ConsentChangeOut.model_validate(c) for c in history],
    )


@router.get(
    "/contacts/{contact_id}/consent", response_model=ContactConsentOut, dependencies=[CONTACTS_READ]
)
async def get_contact_consent(
    contact_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> ContactConsentOut:
    """The contact's marketing consent now, whether it is on the do-not-contact list, and
    every change (who or what, when, why)."""
    contact = await visible_contact(session, principal, contact_id)
    return await _contact_consent(session, contact)


@router.put(
    "/contacts/{contact_id}/consent",
    response_model=ContactConsentOut,
    dependencies=[perm("consent:write")],
)
async def set_contact_consent(
    contact_id: uuid.UUID,
    body: ConsentIn,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> ContactConsentOut:
    """Record an opt-in or opt-out (setting the current state again changes nothing)."""
    contact = await visible_contact(session, principal, contact_id)
    change = await consent.set_consent(
        session,
        contact,
        body.state,
        body.source,
        utc_now(clock),
        actor_agent_id=principal.agent_id,
        detail=body.note,
    )
    if change is not None:
        audit(
            session,
            principal.tenant_id,
            principal.agent_id,
            "contact.consent",
            "contact",
            contact.id,
            {"state": body.state, "source": body.source},
        )
    await session.commit()
    return await _contact_consent(session, contact)


def _policy_out(policy: OutreachPolicy) -> PolicyOut:
    limit = None
    if policy.marketing_limit_count and policy.marketing_limit_days:
        limit = MarketingLimit(count=policy.marketing_limit_count, days=policy.marketing_limit_days)
    quiet = None
    if policy.quiet_start and policy.quiet_end:
        quiet = QuietHours(start=policy.quiet_start, end=policy.quiet_end)
    return PolicyOut(
        opt_out_keywords=policy.opt_out_keywords,
        opt_in_keywords=policy.opt_in_keywords,
        opt_out_payloads=policy.opt_out_payloads,
        marketing_limit=limit,
        quiet_hours=quiet,
        default_time_zone=policy.default_time_zone,
        updated_at=as_utc(policy.updated_at) if policy.updated_at else None,
    )


@router.get("/consent/policy", response_model=PolicyOut, dependencies=[perm("consent:read")])
async def get_policy(principal: PrincipalDep, session: SessionDep) -> PolicyOut:
    """The tenant's consent keywords and outreach rules (the defaults until it sets any)."""
    return _policy_out(await consent.policy_of(session, principal.tenant_id))


def _policy_columns(body: PolicyIn) -> dict[str, Any]:
    given = body.model_fields_set
    columns: dict[str, Any] = {
        key: getattr(body, key)
        for key in ("opt_out_keywords", "opt_in_keywords", "opt_out_payloads", "default_time_zone")
        if key in given and getattr(body, key) is not None
    }
    if "marketing_limit" in given:
        limit = body.marketing_limit
        columns["marketing_limit_count"] = limit.count if limit else None
        columns["marketing_limit_days"] = limit.days if limit else None
    if "quiet_hours" in given:
        quiet = body.quiet_hours
        columns["quiet_start"] = quiet.start if quiet else None
        columns["quiet_end"] = quiet.end if quiet else None
    return columns


@router.put("/consent/policy", response_model=PolicyOut, dependencies=[perm("consent:write")])
async def put_policy(body: PolicyIn, principal: PrincipalDep, session: SessionDep) -> PolicyOut:
    """Change the given fields; the others keep their value; ``null`` turns
    ``marketing_limit`` or ``quiet_hours`` off."""
    columns = _policy_columns(body)
    policy = await consent.update_policy(session, principal.tenant_id, columns)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "consent.policy",
        "tenant",
        principal.tenant_id,
        body.model_dump(exclude_unset=True),
    )
    await session.commit()
    return _policy_out(policy)


@router.get(DNC, response_model=Page[DoNotContactOut], dependencies=[perm("consent:read")])
async def list_do_not_contact(
    principal: PrincipalDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=40, description="Part of the phone")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[DoNotContactOut]:
    """Newest first."""
    stmt = select(DoNotContact).where(DoNotContact.tenant_id == principal.tenant_id)
    if q:
        stmt = stmt.where(DoNotContact.phone.contains(q, autoescape=True))
    rows, next_cursor = await paginate(session, stmt, DoNotContact, cursor, limit)
    return Page(items=[DoNotContactOut.model_validate(r) for r in rows], next_cursor=next_cursor)


def _phone(principal: Principal, raw: str) -> str:
    try:
        return clean_phone(raw, principal.region)
    except FieldError as err:
        raise Invalid(err.code, err.message, [{"field": "phone", "message": err.message}]) from err


@router.post(
    DNC,
    response_model=DoNotContactOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[perm("consent:write")],
)
async def add_do_not_contact(
    body: DoNotContactIn, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> DoNotContact:
    """List a phone number (409 ``already_on_list``); no template goes to it any more."""
    phone = _phone(principal, body.phone)
    entry = await do_not_contact.add(
        session, principal.tenant_id, phone, body.reason, principal.agent_id, utc_now(clock)
    )
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "do_not_contact.add",
        "do_not_contact",
        entry.id,
        {"phone": phone},
    )
    await session.commit()
    return entry


@router.delete(
    DNC + "/{entry_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[perm("consent:write")],
)
async def remove_do_not_contact(
    entry_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> None:
    entry = await get_owned(session, DoNotContact, entry_id, principal.tenant_id)
    await session.delete(entry)
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "do_not_contact.remove",
        "do_not_contact",
        entry_id,
        {"phone": entry.phone},
    )
    await session.commit()


async def _import(
    session: AsyncSession,
    principal: Principal,
    settings: SettingsDep,
    clock: ClockDep,
    rows: Any,
    reason: str,
    source: str,
) -> DoNotContactImportOut:
    report: ImportReport = await do_not_contact.import_phones(
        session,
        principal.tenant_id,
        principal.region,
        rows,
        reason,
        principal.agent_id,
        utc_now(clock),
        settings.max_import_rows,
    )
    audit(
        session,
        principal.tenant_id,
        principal.agent_id,
        "do_not_contact.import",
        "do_not_contact",
        None,
        {"source": source, "added": report.created, "errors": report.error_count},
    )
    await session.commit()
    return DoNotContactImportOut(
        total_rows=report.total_rows,
        added=report.created,
        already_listed=report.updated,
        error_count=report.error_count,
        errors=report.errors,
    )


@router.post(
    DNC + "/bulk", response_model=DoNotContactImportOut, dependencies=[perm("consent:write")]
)
async def bulk_do_not_contact(
    body: DoNotContactBulkIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> DoNotContactImportOut:
    """List up to 10,000 phones; bad ones are reported by index (``line``), listed ones
    counted as ``already_listed``."""
    rows: list[tuple[int, RawRow]] = [(i, {"phone": p}) for i, p in enumerate(body.phones)]
    return await _import(session, principal, settings, clock, rows, body.reason, "json")


@router.post(
    DNC + "/imports", response_model=DoNotContactImportOut, dependencies=[perm("consent:write")]
)
async def import_do_not_contact(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    file: Annotated[UploadFile, File(description="CSV, UTF-8, header line first")],
    mapping: Annotated[str | None, Form(description='e.g. {"phone": "Nomor HP"}')] = None,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> DoNotContactImportOut:
    """List the phones of a CSV file (the phone column found like the contact import's; an
    optional ``reason`` column wins over the form's ``reason``)."""
    rows = read_csv(file.file, parse_mapping(mapping))
    return await _import(session, principal, settings, clock, rows, reason, "csv")
