from __future__ import annotations

import io
import json
from typing import Any

from tests.api.harness import ApiHarness


async def _upload(api: ApiHarness, headers: dict[str, str], data: bytes, **form: str):  # type: ignore[no-untyped-def]
    return await api.client.post(
        "/api/contacts/imports",
        headers=headers,
        files={"file": ("contacts.csv", io.BytesIO(data), "text/csv")},
        data=form,
    )


async def _all_contacts(api: ApiHarness, headers: dict[str, str]) -> list[dict]:  # type: ignore[type-arg]
    items, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/api/contacts", headers=headers, params=params)).json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


async def test_crud_normalises_phone_and_refuses_duplicates(api: ApiHarness) -> None:
    ctx = await api.new_tenant(region="ID")
    created = await api.client.post(
        "/api/contacts",
        headers=ctx.headers,
        json={
            "phone": "0812 3456 7890",
            "name": " Siti ",
            "attributes": {"city": "Bandung"},
            "tags": ["vip", "vip", " new "],
        },
    )
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["phone"] == "+6281234567890"
    assert contact["name"] == "Siti"
    assert contact["tags"] == ["vip", "new"]

    dup = await api.client.post(
        "/api/contacts", headers=ctx.headers, json={"phone": "+62 812-3456-7890"}
    )
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "phone_taken"

    bad = await api.client.post("/api/contacts", headers=ctx.headers, json={"phone": "12"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "phone"

    bad_attr = await api.client.post(
        "/api/contacts",
        headers=ctx.headers,
        json={"phone": "081211112222", "attributes": {"bad key!": 1}},
    )
    assert bad_attr.status_code == 422
    assert bad_attr.json()["error"]["code"] == "invalid_attribute_key"

    patched = await api.client.patch(
        f"/api/contacts/{contact['id']}", headers=ctx.headers, json={"email": "S@Example.com"}
    )
    assert patched.status_code == 200
    assert patched.json()["email"] == "S@example.com"
    assert patched.json()["phone"] == "+6281234567890"  # untouched

    deleted = await api.client.delete(f"/api/contacts/{contact['id']}", headers=ctx.headers)
    assert deleted.status_code == 204
    gone = await api.client.get(f"/api/contacts/{contact['id']}", headers=ctx.headers)
    assert gone.status_code == 404


async def test_csv_import_with_bom_semicolons_and_error_report(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    csv_text = (
        "Nomor HP;Nama;E-mail;Kota;Tags\n"
        "0812-1111-0001;Andi;andi@example.com;Jakarta;vip|new\n"
        "not-a-phone;Budi;;Bogor;\n"
        "\n"
        "0812-1111-0002;Citra;bad-email;Depok;\n"
        "+62 812 1111 0003;Dewi;;Bekasi;\n"
        ";NoPhone;;;\n"
    )
    response = await _upload(
        api,
        ctx.headers,
        b"\xef\xbb\xbf" + csv_text.encode(),
        mapping=json.dumps({"phone": "Nomor HP"}),
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "completed"
    assert (job["created_count"], job["error_count"]) == (2, 3)
    errors = {(e["line"], e["code"]) for e in job["errors"]}
    assert errors == {(3, "invalid_phone"), (5, "invalid_email"), (7, "missing_phone")}

    contacts = {c["phone"]: c for c in await _all_contacts(api, ctx.headers)}
    assert set(contacts) == {"+6281211110001", "+6281211110003"}
    andi = contacts["+6281211110001"]
    assert andi["name"] == "Andi"
    assert andi["tags"] == ["vip", "new"]
    assert andi["attributes"] == {"kota": "Jakarta"}

    stored = await api.client.get(f"/api/contacts/imports/{job['id']}", headers=ctx.headers)
    assert stored.json()["errors"] == job["errors"]


async def test_csv_reimport_is_idempotent_and_merges(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    first = b"phone,name,segment\n081222220001,Eka,gold\n081222220002,Fajar,silver\n"
    r1 = await _upload(api, ctx.headers, first)
    assert (r1.json()["created_count"], r1.json()["updated_count"]) == (2, 0)
    r2 = await _upload(api, ctx.headers, first)
    assert (r2.json()["created_count"], r2.json()["updated_count"]) == (0, 2)
    r3 = await _upload(api, ctx.headers, b"phone,region\n+6281222220001,west\n")
    assert r3.json()["updated_count"] == 1
    contacts = {c["phone"]: c for c in await _all_contacts(api, ctx.headers)}
    assert len(contacts) == 2
    assert contacts["+6281222220001"]["attributes"] == {"segment": "gold", "region": "west"}
    assert contacts["+6281222220001"]["name"] == "Eka"


async def test_fatal_errors_write_nothing(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    no_phone = await _upload(api, ctx.headers, b"name,city\nA,B\n")
    assert no_phone.status_code == 422
    assert no_phone.json()["error"]["code"] == "missing_phone_column"

    # Valid rows first, then bytes that are not UTF-8 deep in the file: nothing is kept.
    rows = "".join(f"0813{i:08d},N{i}\n" for i in range(2500)).encode()
    broken = b"phone,name\n" + rows + b"0813999999,\xff\xfe bad\n"
    failed = await _upload(api, ctx.headers, broken)
    assert failed.status_code == 422
    assert failed.json()["error"]["code"] == "invalid_encoding"
    assert await _all_contacts(api, ctx.headers) == []
    job_id = failed.json()["error"]["details"]["job_id"]
    job = (await api.client.get(f"/api/contacts/imports/{job_id}", headers=ctx.headers)).json()
    assert job["status"] == "failed"


async def test_upload_size_limit_gives_413(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    api.settings.max_upload_bytes = 1000
    response = await _upload(api, ctx.headers, b"phone\n" + b"081234567890\n" * 200)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_bulk_json_import_reports_by_index(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    response = await api.client.post(
        "/api/contacts/bulk",
        headers=ctx.headers,
        json={
            "contacts": [
                {"phone": "081233330001", "name": "Gita", "tags": ["a"], "attributes": {"x": 1}},
                {"phone": "bogus"},
                {"name": "no phone"},
                {"phone": "081233330002", "attributes": "not-an-object"},
            ]
        },
    )
    assert response.status_code == 200
    job = response.json()
    assert job["created_count"] == 1
    assert [(e["line"], e["code"]) for e in job["errors"]] == [
        (1, "invalid_phone"),
        (2, "missing_phone"),
        (3, "invalid_attributes"),
    ]
    empty = await api.client.post("/api/contacts/bulk", headers=ctx.headers, json={"contacts": []})
    assert empty.status_code == 422
    assert empty.json()["error"]["details"][0]["field"] == "contacts"


async def test_agent_sees_only_its_contacts_and_pool(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    agent, headers = await api.new_agent(ctx)
    other, _ = await api.new_agent(ctx)
    ids = []
    for phone in ("081244440001", "081244440002", "081244440003"):
        r = await api.client.post("/api/contacts", headers=ctx.headers, json={"phone": phone})
        ids.append(r.json()["id"])
    await api.client.post(
        f"/api/contacts/{ids[0]}/assign", headers=ctx.headers, json={"agent_id": agent["id"]}
    )
    await api.client.post(
        f"/api/contacts/{ids[1]}/assign", headers=ctx.headers, json={"agent_id": other["id"]}
    )
    seen = {c["id"] for c in await _all_contacts(api, headers)}
    assert seen == {ids[0], ids[2]}  # mine, and the pooled one
    hidden = await api.client.get(f"/api/contacts/{ids[1]}", headers=headers)
    assert hidden.status_code == 404


async def test_filter_by_tag_in_the_database(api: ApiHarness) -> None:
    ctx = await api.new_tenant()
    for i, tags in enumerate([["vip", "new"], ["new"], ["vipx"], []]):
        r = await api.client.post(
            "/api/contacts", headers=ctx.headers, json={"phone": f"08129000{i:04d}", "tags": tags}
        )
        assert r.status_code == 201
    page = (
        await api.client.get("/api/contacts", headers=ctx.headers, params={"tag": "vip"})
    ).json()
    assert [c["tags"] for c in page["items"]] == [["vip", "new"]]
    small = (
        await api.client.get(
            "/api/contacts", headers=ctx.headers, params={"tag": "new", "limit": 1}
        )
    ).json()
    assert len(small["items"]) == 1 and small["next_cursor"]  # full pages, not filtered pages


async def test_importer_without_read_all_never_overwrites_invisible_contacts(
    api: ApiHarness,
) -> None:
    ctx = await api.new_tenant()
    other, _ = await api.new_agent(ctx)
    importer, importer_h = await api.new_agent(
        ctx, permissions=["contacts:import", "contacts:read:assigned"]
    )

    async def contact(phone: str, owner: dict[str, Any]) -> str:
        made = await api.client.post(
            "/api/contacts", headers=ctx.headers, json={"phone": phone, "name": "Original"}
        )
        assert made.status_code == 201, made.text
        assigned = await api.client.post(
            f"/api/contacts/{made.json()['id']}/assign",
            headers=ctx.headers,
            json={"agent_id": owner["id"]},
        )
        assert assigned.status_code == 200, assigned.text
        return str(made.json()["id"])

    hidden = await contact("081200000001", other)
    mine = await contact("081200000002", importer)
    csv = b"phone,name,tags\n081200000001,Hijacked,x\n081200000002,Renamed,x\n081200000003,New,x\n"
    by_csv = await _upload(api, importer_h, csv)
    by_json = await api.client.post(
        "/api/contacts/bulk",
        headers=importer_h,
        json={
            "contacts": [
                {"phone": "081200000001", "name": "Hijacked", "attributes": {"vip": True}},
                {"phone": "081200000002", "name": "Renamed again"},
            ]
        },
    )
    for job, line in [(by_csv, 2), (by_json, 0)]:
        assert job.status_code == 200, job.text
        assert [(e["line"], e["code"]) for e in job.json()["errors"]] == [
            (line, "contact_not_visible")
        ]
        assert job.json()["updated_count"] == 1
    assert by_csv.json()["created_count"] == 1

    untouched = (await api.client.get(f"/api/contacts/{hidden}", headers=ctx.headers)).json()
    assert (untouched["name"], untouched["tags"], untouched["attributes"]) == ("Original", [], {})
    renamed = (await api.client.get(f"/api/contacts/{mine}", headers=ctx.headers)).json()
    assert renamed["name"] == "Renamed again"
