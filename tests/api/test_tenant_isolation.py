"""Tenant A's admin gets 404 on every tenant-B object, and its lists never show them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from runtime.models import MediaFile
from tests.api.harness import TenantCtx
from tests.api.routes import endpoints
from tests.api.whatsapp_world import WhatsAppWorld
from tests.support import wait_for


@pytest.fixture
def api(world: WhatsAppWorld) -> WhatsAppWorld:
    """Registering a sender needs Meta (the simulator) to confirm the number."""
    return world


BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/agents/{agent_id}"): {"name": "renamed"},
    ("PATCH", "/api/teams/{team_id}"): {"name": "renamed"},
    ("PUT", "/api/teams/{team_id}/members"): {"agent_ids": []},
    ("POST", "/api/teams/{team_id}/members"): {"agent_ids": []},
    ("PATCH", "/api/roles/{role_id}"): {"description": "changed"},
    ("PATCH", "/api/contacts/{contact_id}"): {"name": "renamed"},
    ("PATCH", "/api/senders/{sender_id}"): {"verified_name": "renamed"},
    ("PUT", "/api/senders/allocations/teams/{team_id}"): {"secondaries": []},
    ("PUT", "/api/senders/allocations/agents/{agent_id}"): {"secondaries": []},
    ("PATCH", "/api/conversations/{conversation_id}"): {"status": "resolved"},
    ("POST", "/api/conversations/{conversation_id}/messages"): {"type": "text", "text": "hi"},
    ("PUT", "/api/contacts/{contact_id}/consent"): {"state": "opted_out"},
    ("PATCH", "/api/audiences/{audience_id}"): {"name": "renamed"},
    ("PATCH", "/api/campaigns/{campaign_id}"): {"name": "renamed"},
    ("PUT", "/api/campaigns/warmups/{sender_id}"): {"day_one_budget": 10},
    ("PATCH", "/api/canned-responses/{canned_id}"): {"body": "changed"},
    ("PATCH", "/api/labels/{label_id}"): {"name": "renamed"},
    ("POST", "/api/conversations/{conversation_id}/notes"): {"body": "hi"},
}


async def _populate(api: WhatsAppWorld, ctx: TenantCtx) -> dict[str, str]:
    agent, _ = await api.new_agent(ctx)
    team = await api.client.post(
        "/api/teams", headers=ctx.headers, json={"name": "Sales", "member_ids": [agent["id"]]}
    )
    role = await api.client.post(
        "/api/roles", headers=ctx.headers, json={"name": "custom", "permissions": ["agents:read"]}
    )
    contact = await api.client.post(
        "/api/contacts", headers=ctx.headers, json={"phone": "0812-3456-7890", "name": "Budi"}
    )
    sender = await api.client.post("/api/senders", headers=ctx.headers, json=await api.new_number())
    job = await api.client.post(
        "/api/contacts/bulk", headers=ctx.headers, json={"contacts": [{"phone": "08129999888"}]}
    )
    conversation = await api.client.post(
        "/api/conversations",
        headers=ctx.headers,
        json={"contact_id": contact.json()["id"], "sender_id": sender.json()["id"]},
    )
    assert conversation.status_code == 200, conversation.text
    listed = await api.client.post(
        "/api/consent/do-not-contact", headers=ctx.headers, json={"phone": "08129999777"}
    )
    assert listed.status_code == 201, listed.text
    await api.customer_says(sender.json(), "6281234567890", "halo")  # a message of B's
    template = f"isolation_{uuid.uuid4().hex[:8]}"  # one WABA serves every tenant here
    await api.add_template(template, "Hello")
    synced = await api.client.post("/api/templates/sync", headers=ctx.headers)
    assert synced.status_code == 200, synced.text
    audience = await api.client.post(
        "/api/audiences",
        headers=ctx.headers,
        json={
            "name": "everyone",
            "definition": {"field": "created_at", "op": "within_days", "value": 1},
        },
    )
    campaign = await api.client.post(
        "/api/campaigns",
        headers=ctx.headers,
        json={
            "name": "B's campaign",
            "audience_id": audience.json()["id"],
            "template": {"name": template, "language": "en_US"},
            "sender": {"mode": "named", "sender_ids": [sender.json()["id"]]},
        },
    )
    assert campaign.status_code == 201, campaign.text
    canned = await api.client.post(
        "/api/canned-responses",
        headers=ctx.headers,
        json={"scope": "tenant", "shortcut": "hello", "body": "Hello {{contact.name}}"},
    )
    assert canned.status_code == 201, canned.text
    label = await api.client.post("/api/labels", headers=ctx.headers, json={"name": "VIP"})
    assert label.status_code == 201, label.text
    customer = f"62819{uuid.uuid4().int % 10**7:07d}"
    await api.customer_says(sender.json(), customer, "", type="image")  # a photo: a media file

    async def media_file() -> str | None:
        async with api.app.state.sessionmaker() as session:
            found = await session.scalar(select(MediaFile.id).where(MediaFile.tenant_id == ctx.id))
        return str(found) if found else None

    async def first_message() -> str | None:
        listed = await api.client.get(
            f"/api/conversations/{conversation.json()['id']}/messages", headers=ctx.headers
        )
        items = listed.json()["items"]
        return str(items[0]["id"]) if items else None

    ids = {
        "message_id": await wait_for(first_message),
        "conversation_id": conversation.json()["id"],
        "agent_id": agent["id"],
        "team_id": team.json()["id"],
        "role_id": role.json()["id"],
        "contact_id": contact.json()["id"],
        "sender_id": sender.json()["id"],
        "job_id": job.json()["id"],
        "entry_id": listed.json()["id"],
        "audience_id": audience.json()["id"],
        "campaign_id": campaign.json()["id"],
        "canned_id": canned.json()["id"],
        "label_id": label.json()["id"],
        "shortcut": "hello",
        "media_id": await wait_for(media_file),
    }
    return ids


async def test_every_object_endpoint_hides_other_tenants_objects(api: WhatsAppWorld) -> None:
    a = await api.new_tenant()
    b = await api.new_tenant()
    b_ids = await _populate(api, b)
    a_own_agent, _ = await api.new_agent(a)

    checked = 0
    for endpoint in endpoints(api.app):
        if not endpoint.params:
            continue
        body = BODIES.get((endpoint.method, endpoint.path))
        if endpoint.path.endswith("/assign"):
            body = {"agent_id": a_own_agent["id"]}
        if endpoint.path.endswith("/test-send"):
            body = {"contact_id": b_ids["contact_id"]}
        if endpoint.path.endswith("/media"):  # multipart: a valid upload, only the id is foreign
            upload = {"files": {"file": ("receipt.png", b"\x89PNG\r\n\x1a\n", "image/png")}}
        else:
            upload = {"json": body}
        response = await api.request(
            endpoint.method, endpoint.url(**b_ids), headers=a.headers, **upload
        )
        assert response.status_code == 404, (endpoint, response.text)
        assert response.json()["error"]["code"] == "not_found"
        checked += 1
    assert checked >= 25

    route = await api.client.get(
        "/api/senders/route",
        headers=a.headers,
        params={"agent_id": b_ids["agent_id"], "contact_id": b_ids["contact_id"]},
    )
    assert route.status_code == 404

    # Tenant B's objects are all still there and unchanged.
    for path, key in [
        ("/api/agents/", "agent_id"),
        ("/api/teams/", "team_id"),
        ("/api/roles/", "role_id"),
        ("/api/contacts/", "contact_id"),
        ("/api/senders/", "sender_id"),
        ("/api/conversations/", "conversation_id"),
        ("/api/contacts/{}/consent", "contact_id"),
        ("/api/audiences/", "audience_id"),
        ("/api/campaigns/", "campaign_id"),
    ]:
        url = path.format(b_ids[key]) if "{}" in path else path + b_ids[key]
        response = await api.client.get(url, headers=b.headers)
        assert response.status_code == 200, path
        assert response.json().get("name") != "renamed"
        assert response.json().get("status") != "resolved"
        assert response.json().get("state") != "opted_out"


async def test_lists_only_show_own_tenant(api: WhatsAppWorld) -> None:
    a = await api.new_tenant()
    b = await api.new_tenant()
    b_ids = await _populate(api, b)
    await _populate(api, a)
    for path in [
        "/api/agents",
        "/api/teams",
        "/api/contacts",
        "/api/senders",
        "/api/roles",
        "/api/audit",
        "/api/pool",
        "/api/conversations",
        "/api/consent/do-not-contact",
        "/api/audiences",
        "/api/campaigns",
    ]:
        body = (await api.client.get(path, headers=a.headers)).json()
        items = body["items"] if isinstance(body, dict) else body
        assert items, path
        assert not set(b_ids.values()) & {i["id"] for i in items}, path
        assert not any(i.get("target_id") in b_ids.values() for i in items), path
