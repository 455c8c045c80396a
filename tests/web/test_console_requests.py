"""The console's Requests page: admins see requests most urgent first with overdue ones
flagged, and one request's history; other roles are refused and get no link to it."""

from __future__ import annotations

import httpx

from confide.access.models import Role
from confide.core import clock
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
