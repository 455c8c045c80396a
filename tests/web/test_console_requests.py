"""The console's Requests page: admins see requests most urgent first with overdue ones
flagged, and one request's history; other roles are refused and get no link to it."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.core import clock
from tests.chat.helpers import VisitorClient, new_visitor, start_chat
from tests.conftest import World
from tests.web.helpers import post_form, sign_in

DAY = 86_400


async def test_admin_sees_requests_by_urgency_with_overdue_flagged(
    world: World, client: httpx.AsyncClient
) -> None:
    ada = await world.operator("ada", Role.ADMIN)
    headers = await world.headers(ada)
    old = await client.post(
        "/api/v1/dsr/cases",
        json={"kind": "erasure", "email": "old@example.invalid"},
        headers=headers,
    )
    assert old.status_code == 201
    clock.advance(32 * DAY)
    headers = await world.headers(ada)
    new = await client.post(
        "/api/v1/dsr/cases",
        json={"kind": "access", "email": "new@example.invalid", "verified": True},
        headers=headers,
    )
    await sign_in(world, ada)
    page = await client.get("/console/requests")
    assert page.status_code == 200
    assert 'href="/console/requests"' in page.text
    assert "1 request overdue." in page.text
    assert page.text.index(old.json()["id"]) < page.text.index(new.json()["id"])
    assert page.text.count('class="flag-overdue"') == 1
    assert "old@example.invalid" not in page.text  # the list names no one
    detail = await client.get(f"/console/requests/{old.json()['id']}")
    assert detail.status_code == 200 and "opened by operator" in detail.text
    missing = await client.get("/console/requests/not-an-id")
    assert missing.status_code == 404


async def test_an_agent_has_no_requests_page(world: World, client: httpx.AsyncClient) -> None:
    ben = await world.operator("ben", Role.AGENT)
    await sign_in(world, ben)
    assert (await client.get("/console/requests")).status_code == 403
    inbox = await client.get("/console/")
    assert 'href="/console/requests"' not in inbox.text


async def test_admin_verifies_extends_and_carries_out_a_request_from_the_console(
    world: World, client: httpx.AsyncClient
) -> None:
    ada = await world.operator("ada", Role.ADMIN)
    headers = await world.headers(ada)
    case = (
        await client.post(
            "/api/v1/dsr/cases",
            json={"kind": "objection", "processing": "surveys", "email": "o@example.invalid"},
            headers=headers,
        )
    ).json()
    await sign_in(world, ada)
    path = f"/console/requests/{case['id']}"
    verified = await post_form(client, path, path, {"step": "verified"})
    assert verified.status_code == 303, verified.text
    refused = await post_form(client, path, path, {"step": "extended", "reason": ""})
    assert refused.status_code == 422 and "reason" in refused.text.lower()
    extended = await post_form(
        client, path, path, {"step": "extended", "reason": "Records in three systems."}
    )
    assert extended.status_code == 303
    done = await post_form(client, path, path, {"step": "carry_out"})
    assert done.status_code == 303
    page = await client.get(path)
    assert "completed" in page.text and "Records in three systems." in page.text
    assert 'name="step"' not in page.text  # nothing left to do


async def _widget_access_case(client: httpx.AsyncClient) -> tuple[VisitorClient, str]:
    visitor = await new_visitor(client)
    await start_chat(client, visitor, "Hello, what do you keep about me?")
    filed = await client.post(
        "/api/v1/widget/privacy-requests", json={"kind": "access"}, headers=visitor.headers
    )
    assert filed.status_code == 201, filed.text
    return visitor, filed.json()["case_id"]


async def test_a_completed_access_request_offers_its_export_and_receipt(
    world: World, client: httpx.AsyncClient
) -> None:
    ada = await world.operator("ada", Role.ADMIN)
    _, case_id = await _widget_access_case(client)
    await sign_in(world, ada)
    path = f"/console/requests/{case_id}"
    before = await client.get(path)
    assert "/export" not in before.text  # nothing to download before it is carried out
    done = await post_form(client, path, path, {"step": "carry_out"})
    assert done.status_code == 303, done.text
    page = await client.get(path)
    assert f'href="{path}/export"' in page.text and f'href="{path}/receipt"' in page.text
    assert "hand it over to them yourself" in page.text  # no address: nobody was sent it
    assert "exported" in page.text
    link = await client.get(f"{path}/export")
    assert link.status_code == 303 and link.headers["location"].startswith("/api/v1/exports/")
    zipped = await client.get(link.headers["location"])
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"
    async with world.rt.db.session() as session:
        recorded = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "subject.export_download")
        )
    assert recorded == 1
    receipt = await client.get(f"{path}/receipt")
    assert receipt.status_code == 200
    assert "attachment" in receipt.headers["content-disposition"]
    assert receipt.json()["receipt"]["case_id"] == case_id and receipt.json()["signature"]


async def test_an_access_request_after_erasure_says_nothing_is_held_in_the_console(
    world: World, client: httpx.AsyncClient
) -> None:
    ada = await world.operator("ada", Role.ADMIN)
    headers = await world.headers(ada)
    visitor, case_id = await _widget_access_case(client)
    mine = (
        await client.get("/api/v1/widget/privacy-requests/" + case_id, headers=visitor.headers)
    ).json()
    assert mine["answer"] == "pending"
    shown = (await client.get(f"/api/v1/dsr/cases/{case_id}", headers=headers)).json()
    erasure = (
        await client.post(
            "/api/v1/dsr/cases",
            json={"kind": "erasure", "visitor_id": shown["visitor_id"], "verified": True},
            headers=headers,
        )
    ).json()["id"]
    await sign_in(world, ada)
    erase_path = f"/console/requests/{erasure}"
    # Irreversible: not carried out until the admin ticks the confirmation.
    unconfirmed = await post_form(client, erase_path, erase_path, {"step": "carry_out"})
    assert unconfirmed.status_code == 422 and "cannot be undone" in unconfirmed.text
    still = (await client.get(f"/api/v1/dsr/cases/{erasure}", headers=headers)).json()
    assert still["status"] != "completed"
    confirmed = {"step": "carry_out", "confirm_erasure": "1"}
    assert (await post_form(client, erase_path, erase_path, confirmed)).status_code == 303
    path = f"/console/requests/{case_id}"
    assert (await post_form(client, path, path, {"step": "carry_out"})).status_code == 303
    page = await client.get(path)
    assert "No personal data about this person is held any more" in page.text
    assert f'href="{path}/export"' not in page.text
    assert f'href="{path}/receipt"' in page.text
    missing = await client.get(f"{path}/export")
    assert missing.status_code == 404
    assert "held any more" in missing.text and "carry out an access request" not in missing.text


async def test_admin_records_a_request_received_by_letter_and_its_clock_starts(
    world: World, client: httpx.AsyncClient
) -> None:
    ada = await world.operator("ada", Role.ADMIN)
    await sign_in(world, ada)
    page = await client.get("/console/requests")
    assert "Record a request received by e-mail, letter or phone" in page.text
    # A malformed visitor id is refused next to its field, and nothing is recorded.
    bad = await post_form(
        client,
        "/console/requests",
        "/console/requests",
        {"kind": "erasure", "channel": "letter", "visitor_id": "abc"},
    )
    assert bad.status_code == 422
    assert 'id="err-visitor_id"' in bad.text and "Nothing was saved" in bad.text
    assert (await client.get("/api/v1/dsr/cases", headers=await world.headers(ada))).json()[
        "cases"
    ] == []
    done = await post_form(
        client,
        "/console/requests",
        "/console/requests",
        {"kind": "erasure", "channel": "letter", "email": "reader@example.invalid"},
    )
    assert done.status_code == 303
    case_page = await client.get(done.headers["location"])
    assert "Request recorded; the one-month clock has started." in case_page.text
    cases = (await client.get("/api/v1/dsr/cases", headers=await world.headers(ada))).json()
    [case] = cases["cases"]
    assert (case["kind"], case["channel"], case["status"]) == ("erasure", "letter", "received")
