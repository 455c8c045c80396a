"""The console's server-rendered pages over HTTP: the inbox and conversation view, roles,
escaping, and audited reads."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.web.helpers import XSS, sign_in


async def test_inbox_lists_a_waiting_conversation_and_shows_it_with_the_visitor_panel(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN, name="Root Admin")
    visitor = await new_visitor(world.client)
    await world.client.post(
        "/api/v1/widget/identify", json={"name": "Vera Visitor"}, headers=visitor.headers
    )
    started = await start_chat(world.client, visitor, "Where is my parcel?")
    conversation_id = started["conversation"]["id"]
    await sign_in(world, admin)

    inbox = await world.client.get("/console/")
    assert inbox.status_code == 200
    assert f'href="/console/conversations/{conversation_id}"' in inbox.text
    assert "Vera Visitor" in inbox.text

    page = await world.client.get(f"/console/conversations/{conversation_id}")
    assert page.status_code == 200
    assert "Where is my parcel?" in page.text
    assert f'data-conversation="{conversation_id}"' in page.text
    assert 'aria-live="polite"' in page.text
    assert visitor.vuid in page.text  # the visitor panel
    # Admins may export the consent proof; the link points at the API route.
    assert f"/api/v1/visitors/{visitor.vuid}/consent-proof" in page.text


async def test_message_markup_is_escaped_in_the_server_rendered_conversation(
    world: World,
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    visitor = await new_visitor(world.client)
    await world.client.post("/api/v1/widget/identify", json={"name": XSS}, headers=visitor.headers)
    started = await start_chat(world.client, visitor, XSS)
    await sign_in(world, admin)
    for path in ("/console/", f"/console/conversations/{started['conversation']['id']}"):
        page = await world.client.get(path)
        assert page.status_code == 200
        assert XSS not in page.text
        assert "<img" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


async def test_reading_a_conversation_in_the_console_is_audited(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    visitor = await new_visitor(world.client)
    started = await start_chat(world.client, visitor, "hello")
    await sign_in(world, admin)
    page = await world.client.get(f"/console/conversations/{started['conversation']['id']}")
    assert page.status_code == 200
    async with world.rt.db.session() as session:
        actions = set(
            (
                await session.scalars(
                    select(AuditEvent.action).where(AuditEvent.actor_id == admin.id)
                )
            ).all()
        )
    assert {"conversation.list", "conversation.read", "conversation.messages_read"} <= actions


async def test_an_agent_cannot_open_a_conversation_outside_their_scope(world: World) -> None:
    sales = await world.group("Sales")
    support = await world.group("Support")
    agent = await world.operator("agent", Role.AGENT, groups=[sales])
    visitor = await new_visitor(world.client)
    started = await start_chat(world.client, visitor, "secret text", group_id=support)
    await sign_in(world, agent)
    inbox = await world.client.get("/console/")
    assert started["conversation"]["id"] not in inbox.text
    page = await world.client.get(f"/console/conversations/{started['conversation']['id']}")
    assert page.status_code == 404
    assert "secret text" not in page.text


async def test_unknown_conversation_is_a_404_page(world: World) -> None:
    agent = await world.operator("agent", Role.AGENT)
    await sign_in(world, agent)
    page = await world.client.get(f"/console/conversations/{uuid.uuid4()}")
    assert page.status_code == 404
    assert "does not exist" in page.text
    mistyped = await world.client.get("/console/conversations/not-a-uuid")
    assert mistyped.status_code == 404 and mistyped.headers["content-type"].startswith("text/html")
    assert "does not exist" in mistyped.text


async def test_group_filter_shows_only_that_groups_conversations(world: World) -> None:
    sales = await world.group("Sales")
    support = await world.group("Support")
    admin = await world.operator("root", Role.ADMIN)
    in_sales = await start_chat(world.client, await new_visitor(world.client), "a", sales)
    in_support = await start_chat(world.client, await new_visitor(world.client), "b", support)
    await sign_in(world, admin)
    page = await world.client.get(f"/console/?group={sales}")
    assert in_sales["conversation"]["id"] in page.text
    assert in_support["conversation"]["id"] not in page.text
    # A group id that is not one of the operator's groups is ignored, not an error.
    page = await world.client.get("/console/?group=not-a-group")
    assert page.status_code == 200
    assert in_support["conversation"]["id"] in page.text


async def test_analyst_console_has_no_chat_room(world: World) -> None:
    analyst = await world.operator("ana", Role.ANALYST)
    await sign_in(world, analyst)
    page = await world.client.get("/console/")
    assert page.status_code == 200
    assert "no chat room" in page.text
    assert "conv-list" not in page.text


async def test_pages_send_the_strict_content_security_policy(world: World) -> None:
    agent = await world.operator("agent", Role.AGENT)
    await sign_in(world, agent)
    for path in ("/console/", "/console/account"):
        page = await world.client.get(path)
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "<script>" not in page.text  # only external modules
        assert " style=" not in page.text and " onclick=" not in page.text


async def test_a_redacted_message_says_what_was_masked(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    started = await start_chat(
        world.client, await new_visitor(world.client), "My card is 4111 1111 1111 1111"
    )
    await sign_in(world, admin)
    page = await world.client.get(f"/console/conversations/{started['conversation']['id']}")
    assert "4111 1111 1111 1111" not in page.text
    assert "Masked before storage: card" in page.text
    plain = await start_chat(world.client, await new_visitor(world.client), "Nothing to mask")
    page = await world.client.get(f"/console/conversations/{plain['conversation']['id']}")
    assert "Masked before storage" not in page.text


async def test_agents_see_consent_status_but_only_admins_get_the_proof_link(
    world: World,
) -> None:
    sales = await world.group("Sales")
    agent = await world.operator("agent", Role.AGENT, groups=[sales])
    visitor = await new_visitor(world.client)
    started = await start_chat(world.client, visitor, "hello", group_id=sales)
    await sign_in(world, agent)
    page = await world.client.get(f"/console/conversations/{started['conversation']['id']}")
    assert page.status_code == 200
    assert "not granted" in page.text  # the consent status of each purpose
    assert "consent-proof" not in page.text
    assert 'data-action="assign"' in page.text  # the API decides; the page offers


async def test_the_visitor_panel_shows_the_context_sent_with_the_chat(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    visitor = await new_visitor(world.client)
    context = {"page_views": 3, "language": "fr-FR", "path": "/p/<script>alert(1)</script>"}
    response = await world.client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "c1", "body": "Hi"}, "context": context},
        headers=visitor.headers,
    )
    assert response.status_code == 201, response.text
    await sign_in(world, admin)
    page = await world.client.get(f"/console/conversations/{response.json()['conversation']['id']}")
    assert "When the chat started" in page.text
    assert "fr-FR" in page.text and "Page views" in page.text
    assert "/p/&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
