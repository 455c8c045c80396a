"""The consent ledger: requests with exact texts, decisions, enforcement, and a signed proof."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from confide.access.models import Role
from confide.privacy.consent_proof import verify_proof
from confide.runtime import Runtime
from tests.chat.helpers import Socket, agent_token, new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World
from tests.privacy.helpers import admin_headers, count_rows, decide, publish, set_privacy

CHAT_TEXT = "We keep this conversation for 3 years to answer you. OK?"
PREVIEW_TEXT = "Let our agents see what you type before you send it?"
MIRROR_TEXT = "Let our agents see the page you are on?"
COBROWSE_TEXT = "Let an agent guide you on this page? You can stop at any time."


async def _require_chat_consent(world: World, client: httpx.AsyncClient) -> dict[str, str]:
    admin = await admin_headers(world)
    await publish(client, admin, "chat", CHAT_TEXT)
    await set_privacy(client, admin, consent_required=True)
    return admin


async def test_only_admins_publish_requests_and_each_text_is_hashed_and_versioned(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    agent = await world.headers(await world.operator("alice", Role.AGENT))
    refused = await client.put(
        "/api/v1/consent/requests/chat", json={"version": "1", "text": "x"}, headers=agent
    )
    assert refused.status_code == 403
    first = await publish(client, admin, "chat", CHAT_TEXT)
    assert first["text_hash"] == hashlib.sha256(CHAT_TEXT.encode()).hexdigest()
    assert await publish(client, admin, "chat", CHAT_TEXT) == first  # same version: unchanged
    reworded = await client.put(
        "/api/v1/consent/requests/chat", json={"version": "1", "text": "Other"}, headers=admin
    )
    assert reworded.status_code == 409 and reworded.json()["error"]["field"] == "version"
    await publish(client, admin, "chat", "Version two", version="2")
    versions = (await client.get("/api/v1/consent/requests", headers=admin)).json()["requests"]
    assert [(r["version"], r["superseded_at"] is None) for r in versions] == [
        ("1", False),
        ("2", True),
    ]
    unknown = await client.put(
        "/api/v1/consent/requests/telepathy", json={"version": "1", "text": "x"}, headers=admin
    )
    assert unknown.status_code == 422


async def test_consent_cannot_be_required_before_a_chat_request_exists(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    response = await client.patch(
        "/api/v1/workspace", json={"consent_required": True}, headers=admin
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "consent_required"


async def test_without_a_chat_grant_nothing_is_stored_and_withdrawal_stops_storage_at_once(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    await _require_chat_consent(world, client)
    visitor = await new_visitor(client)
    state = (await client.get("/api/v1/widget/consent", headers=visitor.headers)).json()
    assert state["consent_required"] is True
    assert [(r["purpose"], r["text"], r["decision"]) for r in state["requests"]] == [
        ("chat", CHAT_TEXT, None)
    ]

    refused = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "c-0", "body": "Hello"}},
        headers=visitor.headers,
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "consent_required"
    assert await count_rows(rt, "conversations") == 0
    assert await count_rows(rt, "messages") == 0

    assert (await decide(client, visitor, "chat", CHAT_TEXT)).status_code == 201
    chat = await start_chat(client, visitor, "Now I agreed")
    conversation_id = chat["conversation"]["id"]
    assert await count_rows(rt, "messages") == 1

    withdrawn = await decide(
        client, visitor, "chat", CHAT_TEXT, "withdrawn", conversation_id=conversation_id
    )
    assert withdrawn.status_code == 201
    send = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": "c-2", "body": "Still there?"},
        headers=visitor.headers,
    )
    assert send.status_code == 403 and send.json()["error"]["code"] == "consent_required"
    assert await count_rows(rt, "messages") == 1
    assert await count_rows(rt, "message_texts") == 1
    assert await count_rows(rt, "consent_records") == 2  # appended, never updated


async def test_a_new_text_version_asks_again(world: World, client: httpx.AsyncClient) -> None:
    admin = await _require_chat_consent(world, client)
    visitor = await new_visitor(client)
    await decide(client, visitor, "chat", CHAT_TEXT)
    await start_chat(client, visitor, "First")
    await publish(client, admin, "chat", "We now keep chats for 8 years in all. OK?", version="2")
    refused = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "c-9", "body": "Again"}},
        headers=visitor.headers,
    )
    assert refused.status_code == 403
    state = (await client.get("/api/v1/widget/consent", headers=visitor.headers)).json()
    assert [(r["version"], r["decision"]) for r in state["requests"]] == [("2", None)]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"text_hash": "0" * 64}, "text_hash"), ({"version": "7"}, "version")],
)
async def test_a_decision_about_a_text_nobody_published_is_refused(
    world: World, client: httpx.AsyncClient, rt: Runtime, change: dict[str, str], field: str
) -> None:
    await _require_chat_consent(world, client)
    visitor = await new_visitor(client)
    body = {
        "purpose": "chat",
        "version": "1",
        "text_hash": hashlib.sha256(CHAT_TEXT.encode()).hexdigest(),
        "decision": "granted",
        **change,
    }
    response = await client.post("/api/v1/widget/consent", json=body, headers=visitor.headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert await count_rows(rt, "consent_records") == 0


def _verifies_by_the_recipe(document: dict[str, Any]) -> bool:
    message = json.dumps(
        document["proof"], sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(document["public_key"]))
    try:
        key.verify(base64.b64decode(document["signature"]), message)
    except InvalidSignature:
        return False
    return True


async def test_consent_proof_is_signed_with_the_exact_texts_and_tampering_breaks_it(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await _require_chat_consent(world, client)
    await publish(client, admin, "cobrowsing", COBROWSE_TEXT)
    visitor = await new_visitor(client)
    await decide(client, visitor, "chat", CHAT_TEXT)
    await decide(client, visitor, "cobrowsing", COBROWSE_TEXT)
    await decide(client, visitor, "cobrowsing", COBROWSE_TEXT, "withdrawn")

    key = (await client.post("/api/v1/api-keys", json={"name": "b"}, headers=admin)).json()
    for headers, url in [
        (admin, f"/api/v1/visitors/{visitor.vuid}/consent-proof"),
        (
            {"Authorization": f"Bearer {key['key']}"},
            f"/api/v1/visitors/{visitor.vuid}/consent-proof",
        ),
        (visitor.headers, "/api/v1/widget/consent/proof"),
    ]:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        document = response.json()
        records = document["proof"]["records"]
        assert [(r["purpose"], r["decision"], r["text"]) for r in records] == [
            ("chat", "granted", CHAT_TEXT),
            ("cobrowsing", "granted", COBROWSE_TEXT),
            ("cobrowsing", "withdrawn", COBROWSE_TEXT),
        ]
        assert document["proof"]["current_grants"]["chat"] is True
        assert document["proof"]["current_grants"]["cobrowsing"] is False
        assert document["algorithm"] == "Ed25519" and "sort_keys" in document["verification"]
        assert verify_proof(document) and _verifies_by_the_recipe(document)

        forged = copy.deepcopy(document)
        forged["proof"]["records"][2]["decision"] = "granted"
        assert not verify_proof(forged) and not _verifies_by_the_recipe(forged)
        reworded = copy.deepcopy(document)
        reworded["proof"]["records"][0]["text"] = "We keep it forever."
        assert not verify_proof(reworded)

    agent = await world.headers(await world.operator("alice", Role.AGENT))
    denied = await client.get(f"/api/v1/visitors/{visitor.vuid}/consent-proof", headers=agent)
    assert denied.status_code == 403
    audit = (await client.get("/api/v1/audit", headers=admin)).json()["events"]
    assert sum(e["action"] == "consent.proof_read" for e in audit) == 2


# -- real-time: preview, mirroring, co-browsing -------------------------------------------------


async def _pair(
    world: World, client: httpx.AsyncClient, server: LiveServer
) -> tuple[Socket, Socket, Any, str, dict[str, str]]:
    admin = await admin_headers(world)
    support = await world.group("Support")
    agent_account = await world.operator("alice", Role.AGENT, groups=[support])
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None, group_id=support)
    conversation_id = chat["conversation"]["id"]
    agent = await open_socket(
        f"{server.ws_url}/api/v1/ws/console", token=await agent_token(world, agent_account)
    )
    guest = await open_socket(f"{server.ws_url}/api/v1/ws/widget", token=visitor.token)
    for socket in (agent, guest):
        await socket.send(type="subscribe", conversation_id=conversation_id, since=0)
        await socket.recv_until(lambda f: f["type"] == "subscribed")
    return agent, guest, visitor, conversation_id, admin


async def test_typing_preview_reaches_agents_only_with_preview_consent(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    agent, guest, visitor, conversation_id, admin = await _pair(world, client, live_server)
    await guest.send(type="typing", conversation_id=conversation_id, preview="my card is 41")
    typing = await agent.recv_until(lambda f: f["type"] == "typing")
    assert typing["state"] is True and "preview" not in typing

    await publish(client, admin, "preview", PREVIEW_TEXT)
    await decide(client, visitor, "preview", PREVIEW_TEXT)
    await guest.send(
        type="typing", conversation_id=conversation_id, preview="card 4111 1111 1111 1111 ok"
    )
    typing = await agent.recv_until(lambda f: f["type"] == "typing")
    assert typing["preview"] == "card [redacted card] ok"

    await decide(client, visitor, "preview", PREVIEW_TEXT, "withdrawn")
    await guest.send(type="typing", conversation_id=conversation_id, preview="secret draft")
    typing = await agent.recv_until(lambda f: f["type"] == "typing")
    assert "preview" not in typing
    await agent.close()
    await guest.close()


async def test_page_mirroring_needs_consent(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    agent, guest, visitor, conversation_id, admin = await _pair(world, client, live_server)
    page = {"url": "https://shop.example/cart", "title": "Your cart"}
    await guest.send(type="mirror", conversation_id=conversation_id, **page)
    error = await guest.recv_until(lambda f: f["type"] == "error")
    assert (error["code"], error["field"]) == ("consent_required", "mirroring")
    assert [f for f in await agent.nothing_for(0.3) if f["type"] == "mirror"] == []

    await publish(client, admin, "mirroring", MIRROR_TEXT)
    await decide(client, visitor, "mirroring", MIRROR_TEXT)
    await guest.send(type="mirror", conversation_id=conversation_id, **page)
    mirrored = await agent.recv_until(lambda f: f["type"] == "mirror")
    assert (mirrored["url"], mirrored["title"]) == (page["url"], page["title"])
    await agent.close()
    await guest.close()


async def test_cobrowsing_needs_its_own_consent_and_the_visitor_can_end_it(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    agent, guest, visitor, conversation_id, admin = await _pair(world, client, live_server)
    await publish(client, admin, "mirroring", MIRROR_TEXT)
    await publish(client, admin, "cobrowsing", COBROWSE_TEXT)
    await decide(client, visitor, "mirroring", MIRROR_TEXT)  # not enough for co-browsing
    pointer = {"action": "highlight", "data": {"node": 42}}
    await agent.send(type="cobrowse", conversation_id=conversation_id, **pointer)
    error = await agent.recv_until(lambda f: f["type"] == "error")
    assert (error["code"], error["field"]) == ("consent_required", "cobrowsing")

    await decide(client, visitor, "cobrowsing", COBROWSE_TEXT, conversation_id=conversation_id)
    notice = await agent.recv_until(lambda f: f["type"] == "consent")
    assert (notice["purpose"], notice["decision"]) == ("cobrowsing", "granted")
    await agent.send(type="cobrowse", conversation_id=conversation_id, **pointer)
    guided = await guest.recv_until(lambda f: f["type"] == "cobrowse")
    assert guided["data"] == {"node": 42}

    await guest.send(type="cobrowse_end", conversation_id=conversation_id)
    ended = await agent.recv_until(lambda f: f["type"] == "cobrowse_end")
    assert ended["author"]["kind"] == "visitor"
    await agent.close()
    await guest.close()


async def test_the_chat_consent_text_cannot_contradict_the_transcript_setting(
    world: World, client: httpx.AsyncClient
) -> None:
    """The fault report: transcripts off, yet "We store this chat for 3 years"."""
    admin = await admin_headers(world)
    await publish(client, admin, "chat", "We store this chat for 3 years to answer you.")
    refused = await client.patch(
        "/api/v1/workspace", json={"store_transcripts": False}, headers=admin
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "store_transcripts"
    assert "3 years" in refused.json()["error"]["message"]
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["store_transcripts"] is True  # nothing half-changed

    relayed = "Ce chat est relayé en direct : les messages ne sont pas conservés. D'accord ?"
    alone = await client.put(
        "/api/v1/consent/requests/chat", json={"version": "2", "text": relayed}, headers=admin
    )
    assert alone.status_code == 422 and alone.json()["error"]["field"] == "text"
    together = await client.put(
        "/api/v1/consent/requests/chat",
        json={"version": "2", "text": relayed, "store_transcripts": False},
        headers=admin,
    )
    assert together.status_code == 200, together.text
    settings = (await client.get("/api/v1/workspace", headers=admin)).json()["settings"]
    assert settings["store_transcripts"] is False
    for text, words in (
        ("We store this chat for 90 days.", "90 days"),
        ("Wir speichern diesen Chat 12 Monate.", "12 Monate"),
        ("We keep a record of this chat.", "keep"),
    ):
        response = await client.put(
            "/api/v1/consent/requests/chat", json={"version": "3", "text": text}, headers=admin
        )
        assert response.status_code == 422, text
        assert (
            response.json()["error"]["field"] == "text"
            and words in response.json()["error"]["message"]
        )
    # With transcripts on again, "not recorded" is the untrue claim.
    storing = await client.put(
        "/api/v1/consent/requests/chat",
        json={"version": "4", "text": "We keep this chat to answer you."},
        headers=admin,
    )
    assert storing.status_code == 422  # while transcripts are off; the relayed text stays
    refused = await client.patch(
        "/api/v1/workspace", json={"store_transcripts": True}, headers=admin
    )
    assert refused.status_code == 422 and "pas conserv" in refused.json()["error"]["message"]
    config = (await client.get("/api/v1/widget/acme/config")).json()
    assert config["consent"]["requests"]["chat"]["text"] == relayed
    assert config["transcripts_stored"] is False


async def test_consent_texts_per_language_each_with_its_own_version(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    default = await publish(client, admin, "chat", "We keep this chat to answer you. OK?")
    german = await client.put(
        "/api/v1/consent/requests/chat",
        json={"version": "1-de", "language": "de", "text": "Wir bewahren diesen Chat auf. OK?"},
        headers=admin,
    )
    assert german.status_code == 200, german.text
    assert german.json()["language"] == "de"

    def shown(config: dict[str, Any]) -> str:
        text: str = config["consent"]["requests"]["chat"]["text"]
        return text

    assert shown((await client.get("/api/v1/widget/acme/config?lang=de-AT")).json()).startswith(
        "Wir"
    )
    assert shown((await client.get("/api/v1/widget/acme/config?lang=fr")).json()) == default["text"]
    # A new default version leaves the German one active, and the German visitor's grant counts.
    await publish(client, admin, "chat", "We keep this chat to answer you. Agreed?", version="2")
    listed = (await client.get("/api/v1/consent/requests", headers=admin)).json()["requests"]
    active = {(r["language"], r["version"]) for r in listed if r["superseded_at"] is None}
    assert active == {(None, "2"), ("de", "1-de")}
    bad = await client.put(
        "/api/v1/consent/requests/chat",
        json={"version": "x", "language": "not a tag", "text": "Hallo"},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "language"

    # Transcripts off with a new default text: the German text, now untrue, is withdrawn.
    switched = await client.put(
        "/api/v1/consent/requests/chat",
        json={"version": "3", "text": "This chat is relayed live and not kept. OK?",
              "store_transcripts": False},
        headers=admin,
    )  # fmt: skip
    assert switched.status_code == 200, switched.text
    config = (await client.get("/api/v1/widget/acme/config?lang=de")).json()
    assert shown(config).startswith("This chat is relayed live")
