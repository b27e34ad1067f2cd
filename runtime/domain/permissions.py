"""The permission catalogue and the built-in roles every tenant starts with."""

from __future__ import annotations

PERMISSIONS: dict[str, str] = {
    "agents:read": "List and view agents",
    "agents:write": "Create, edit, disable agents and change their roles",
    "teams:read": "List and view teams",
    "teams:write": "Create, edit, delete teams and change membership",
    "roles:read": "List and view roles",
    "roles:write": "Create, edit and delete custom roles",
    "contacts:read:all": "See every contact of the tenant",
    "contacts:read:assigned": "See contacts assigned to me or my teams",
    "contacts:write": "Create, edit and delete contacts",
    "contacts:import": "Import contacts from CSV or the bulk API",
    "contacts:assign": "Assign and reassign contacts to agents and teams",
    "pool:claim": "Claim contacts from the pool and release them back",
    "senders:read": "List and view sender numbers",
    "senders:write": "Register, edit and remove sender numbers",
    "senders:allocate": "Allocate primary/secondary senders to teams and agents",
    "alerts:read": "See sender health alerts (quality, tier, restrictions, token) and mark them "
    "read",
    "alerts:write": "Set the signed webhook that sender health alerts are posted to",
    "inbox:read:all": "See every conversation",
    "inbox:read:assigned": "See conversations assigned to me",
    "inbox:send": "Send messages to customers",
    "inbox:assign": "Assign conversations and change their status",
    "templates:read": "List message templates",
    "templates:write": "Sync message templates from WhatsApp",
    "audit:read": "Read the audit log",
    "campaigns:read": "See audiences, campaigns, their results and the numbers' warm-up",
    "campaigns:write": "Create and edit audiences and campaigns, send a campaign's test message, "
    "set warm-up ramps",
    "campaigns:launch": "Launch, pause, resume and cancel campaigns",
    "consent:read": "See the consent keywords, outreach rules and do-not-contact list",
    "consent:write": "Change the consent keywords, outreach rules and do-not-contact list, "
    "and record a contact's marketing consent",
    "canned:write": "Manage the tenant-wide canned responses (everyone manages their own)",
    "labels:write": "Manage the tenant's conversation label catalogue",
}

BUILTIN_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "admin": ("Full control of the tenant", frozenset(PERMISSIONS)),
    "supervisor": (
        "Runs a team: sees all conversations and contacts, assigns work",
        frozenset(
            {
                "agents:read",
                "teams:read",
                "roles:read",
                "contacts:read:all",
                "contacts:write",
                "contacts:import",
                "contacts:assign",
                "pool:claim",
                "senders:read",
                "inbox:read:all",
                "inbox:send",
                "inbox:assign",
                "templates:read",
                "audit:read",
                "consent:read",
                "campaigns:read",
                "canned:write",
                "labels:write",
            }
        ),
    ),
    "agent": (
        "Chats with the customers assigned to them",
        frozenset(
            {
                "contacts:read:assigned",
                "pool:claim",
                "senders:read",
                "inbox:read:assigned",
                "inbox:send",
                "templates:read",
            }
        ),
    ),
}


def unknown_permissions(perms: list[str]) -> list[str]:
    return sorted(p for p in set(perms) if p not in PERMISSIONS)
