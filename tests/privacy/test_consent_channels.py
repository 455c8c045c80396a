"""Consent is enforced where a visitor's personal data is stored, on every channel: when the
workspace requires it, a visitor who refused or withdrew (or never decided) gets 403
``consent_required`` and nothing of theirs is stored."""

from __future__ import annotations

import json

import httpx

from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.chat.test_channels import CALL_METADATA, api_key, hook, signed
from tests.conftest import World
from tests.privacy.helpers import admin_headers, count_rows, decide, publish, set_privacy

CHAT_TEXT = "We keep this conversation to answer you. OK?"


def _refused(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "consent_required"


async def _counts(rt: Runtime) -> tuple[int, ...]:
    return tuple(
        [
            await count_rows(rt, t)
            for t in ("conversations", "messages", "message_texts", "personal_fields")
        ]
    )


async def test_a_visitor_who_withdrew_has_nothing_more_stored_on_any_path(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    await publish(client, admin, "chat", CHAT_TEXT)
    await set_privacy(client, admin, consent_required=True)
    key = await api_key(client, admin)
    visitor = await new_visitor(client)
    assert (await decide(client, visitor, "chat", CHAT_TEXT)).status_code == 201
    chat = await start_chat(client, visitor, "I agreed, then changed my mind")
    conversation_id = chat["conversation"]["id"]
    closed = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/close", headers=visitor.headers
    )
    assert closed.status_code == 200, closed.text
    withdrawn = await decide(
        client, visitor, "chat", CHAT_TEXT, "withdrawn", conversation_id=conversation_id
    )
    assert withdrawn.status_code == 201
    before = await _counts(rt)

    csat = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/csat",
        json={"score": 2, "comment": "Call me on +44 20 7946 0000"},
        headers=visitor.headers,
    )
    assert _refused(csat), csat.text
    own = await client.post(
        "/api/v1/widget/identify", json={"email": "gone@example.invalid"}, headers=visitor.headers
    )
    assert _refused(own), own.text
    backend = await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "name": "No Consent", "attributes": {"plan": "gold"}},
        headers=key,
    )
    assert _refused(backend), backend.text
    recorded = await client.post(
        "/api/v1/conversations/recorded",
        json={
            "channel": "call",
            "vuid": visitor.vuid,
            "metadata": CALL_METADATA,
            "transcript": [{"author": "visitor", "text": "My account number is 1234"}],
        },
        headers=key,
    )
    assert _refused(recorded), recorded.text
    assert await _counts(rt) == before
    rated = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)).json()
    assert rated.get("csat_score") is None  # the whole rating rolled back with its comment


async def test_an_inbound_channel_message_is_refused_without_consent(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    await publish(client, admin, "chat", CHAT_TEXT)
    await set_privacy(client, admin, consent_required=True)
    configured = await client.put(
        "/api/v1/channels/sms", json={"outbound_url": None, "enabled": True}, headers=admin
    )
    secret = configured.json()["signing_secret"]
    before = await _counts(rt)  # the admin's own profile is in personal_fields
    body = json.dumps(
        {
            "thread_id": "+33612349999",
            "message_id": "sms-1",
            "text": "Text from someone who never agreed",
            "sender": {"name": "Never Asked", "phone": "+33612349999"},
        }
    ).encode()
    received = await hook(client, body, signed(secret, body))
    assert _refused(received), received.text
    assert await _counts(rt) == before and before[:3] == (0, 0, 0)
    assert await count_rows(rt, "visitors") == 0
