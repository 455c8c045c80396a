"""A withdrawal of chat consent stops storage on both sides: in a workspace that requires
consent, an operator's reply or file is refused (409 consent_withdrawn) and nothing is stored,
until the visitor consents again; the console says so and shows the badge "withdrawn"."""

from __future__ import annotations

import uuid

import httpx

from confide.access.models import Role
from confide.runtime import Runtime
from tests.chat.attachment_helpers import operator_upload, png
from tests.chat.helpers import VisitorClient, agent_token, open_socket
from tests.conftest import LiveServer, World
from tests.privacy.helpers import consented_chat, count_rows, decide, set_privacy
from tests.web.helpers import sign_in

CHAT_TEXT = "We keep this conversation for 3 years to answer you. OK?"
NOTICE = "The visitor withdrew consent: nothing more can be sent or stored in this chat."


async def _withdrawn_chat(
    world: World, client: httpx.AsyncClient, *, required: bool = True
) -> tuple[dict[str, str], str, VisitorClient]:
    admin, visitor, conversation_id = await consented_chat(world, client, CHAT_TEXT)
    withdrawn = await decide(
        client, visitor, "chat", CHAT_TEXT, "withdrawn", conversation_id=conversation_id
    )
    assert withdrawn.status_code == 201, withdrawn.text
    if not required:
        await set_privacy(client, admin, consent_required=False)
    return admin, conversation_id, visitor


async def _reply(client: httpx.AsyncClient, admin: dict[str, str], cid: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"client_id": uuid.uuid4().hex, "body": "Are you still there?"},
        headers=admin,
    )


async def test_an_operator_reply_after_withdrawal_is_refused_and_nothing_is_stored(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin, cid, visitor = await _withdrawn_chat(world, client)
    refused = await _reply(client, admin, cid)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/json")
    error = refused.json()["error"]
    assert (error["code"], error["field"], error["message"]) == (
        "consent_withdrawn",
        "chat",
        NOTICE,
    )
    assert await count_rows(rt, "messages") == 1
    assert await count_rows(rt, "message_texts") == 1
    detail = (await client.get(f"/api/v1/conversations/{cid}", headers=admin)).json()
    assert detail["last_seq"] == 1
    assert detail["status"] == "waiting"  # answering did not take it either: all rolled back

    file = await operator_upload(client, admin, cid, png(), "screenshot.png")
    assert file.status_code == 409 and file.json()["error"]["code"] == "consent_withdrawn"
    assert await count_rows(rt, "attachments") == 0

    # The visitor consents again: the same conversation goes on, for both sides.
    assert (await decide(client, visitor, "chat", CHAT_TEXT)).status_code == 201
    answered = await _reply(client, admin, cid)
    assert answered.status_code == 201, answered.text
    assert await count_rows(rt, "messages") == 2


async def test_without_consent_required_a_withdrawal_does_not_stop_replies(
    world: World, client: httpx.AsyncClient
) -> None:
    admin, cid, _visitor = await _withdrawn_chat(world, client, required=False)
    answered = await _reply(client, admin, cid)
    assert answered.status_code == 201, answered.text


async def test_a_reply_over_the_socket_is_refused_with_the_reason(
    world: World, client: httpx.AsyncClient, live_server: LiveServer, rt: Runtime
) -> None:
    _admin, cid, _visitor = await _withdrawn_chat(world, client)
    support = await world.group("Support")
    alice = await world.operator("alice", Role.ADMIN, groups=[support])
    agent = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/console", token=await agent_token(world, alice)
    )
    await agent.send(type="subscribe", conversation_id=cid, since=0)
    await agent.recv_until(lambda f: f["type"] == "subscribed")
    await agent.send(type="message", conversation_id=cid, client_id="r-1", body="Hello?")
    error = await agent.recv_until(lambda f: f["type"] == "error")
    assert (error["code"], error["client_id"]) == ("consent_withdrawn", "r-1")
    assert await count_rows(rt, "messages") == 1
    await agent.close()


async def test_the_console_says_consent_was_withdrawn_and_pauses_the_reply_box(
    world: World, client: httpx.AsyncClient
) -> None:
    _admin, cid, _visitor = await _withdrawn_chat(world, client)
    await sign_in(world, await world.operator("root", Role.ADMIN))
    page = await world.client.get(f"/console/conversations/{cid}")
    assert page.status_code == 200
    assert NOTICE in page.text
    assert 'id="consent-withdrawn" role="status">' in page.text  # shown, not hidden
    assert 'data-consent-withdrawn="1"' in page.text
    assert '<span class="pill pill--no">withdrawn</span>' in page.text
