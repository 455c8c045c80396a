"""Social/SMS channels (signed webhook in, signed replies out) and recorded call/SMS/video."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from confide.access.models import Role
from confide.chat import channels
from confide.chat.channels import outbound
from confide.chat.models import ChannelDelivery, Conversation, Message, Visitor
from confide.core import clock
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor
from tests.conftest import Account, World

HOOK = "/api/v1/hooks/acme/sms"
PHONE = "+33 6 12 34 56 78"
SECRET_TEXT = "My card arrived broken, order 4411"


# -- helpers ------------------------------------------------------------------------------


def signed(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature a provider's bridge computes, written independently of Confide's code."""
    t = int(clock.utcnow().timestamp()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(","))
    mac = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(clock.utcnow().timestamp() - int(parts["t"])) < 60
    return fresh and hmac.compare_digest(mac, parts["v1"])


def inbound(
    message_id: str = "m-1", text: str = "Hello, my parcel is late", thread: str = "thread-42"
) -> bytes:
    return json.dumps(
        {
            "thread_id": thread,
            "message_id": message_id,
            "text": text,
            "sender": {"name": "Grace Caller", "phone": PHONE},
        }
    ).encode()


async def hook(
    client: httpx.AsyncClient,
    body: bytes,
    signature: str | None,
    path: str = HOOK,
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Confide-Signature"] = signature
    return await client.post(path, content=body, headers=headers)


async def configure(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    channel: str = "sms",
    url: str | None = None,
    enabled: bool = True,
) -> httpx.Response:
    return await client.put(
        f"/api/v1/channels/{channel}",
        json={"outbound_url": url, "enabled": enabled},
        headers=headers,
    )


async def counts(rt: Runtime) -> tuple[int, int, int]:
    async with rt.db.session() as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
        messages = await session.scalar(select(func.count()).select_from(Message))
        visitors = await session.scalar(select(func.count()).select_from(Visitor))
    return int(conversations or 0), int(messages or 0), int(visitors or 0)


async def api_key(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    response = await client.post("/api/v1/api-keys", json={"name": "backend"}, headers=admin)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


@dataclass
class Receiver:
    """A real HTTP server on loopback standing in for the provider's bridge."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to answer, then 200


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    import uvicorn

    state = Receiver(url="")

    async def replies(request: Request) -> JSONResponse:
        state.received.append((dict(request.headers), await request.body()))
        status = state.answers.pop(0) if state.answers else 200
        return JSONResponse({"ok": status < 300}, status_code=status)

    app = Starlette(routes=[Route("/replies", replies, methods=["POST"])])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "receiver did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/replies"
    yield state
    await channels.drain(grace_seconds=5)
    server.should_exit = True
    await task


@pytest.fixture
async def team(world: World) -> dict[str, Account]:
    support = await world.group("Support")
    return {
        "ada": await world.operator("ada", Role.ADMIN),
        "alice": await world.operator("alice", Role.AGENT, groups=[support]),
    }


@pytest.fixture
async def admin(world: World, team: dict[str, Account]) -> dict[str, str]:
    return await world.headers(team["ada"])


@pytest.fixture
async def sms_secret(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    response = await configure(client, admin)
    assert response.status_code == 201, response.text
    secret: str = response.json()["signing_secret"]
    return secret


# -- endpoint configuration ---------------------------------------------------------------


async def test_secret_is_returned_once_and_never_listed(
    client: httpx.AsyncClient, admin: dict[str, str], rt: Runtime
) -> None:
    created = await configure(client, admin, "social", "https://bridge.example.invalid/out")
    assert created.status_code == 201
    secret = created.json()["signing_secret"]
    assert len(secret) == 64
    updated = await configure(client, admin, "social", None, enabled=False)
    assert updated.status_code == 200
    assert "signing_secret" not in updated.json()
    assert (updated.json()["outbound_url"], updated.json()["enabled"]) == (None, False)
    listing = await client.get("/api/v1/channels", headers=admin)
    assert listing.status_code == 200
    assert [c["channel"] for c in listing.json()["channels"]] == ["social"]
    assert "signing_secret" not in listing.json()["channels"][0]
    assert secret not in listing.text
    # Not stored either: the row holds a nonce the secret is derived from.
    async with rt.db.session() as session:
        from confide.chat.models import ChannelEndpoint

        row = await session.scalar(select(ChannelEndpoint))
    assert row is not None and secret not in row.signing_secret
    rotated = await client.post("/api/v1/channels/social/rotate-secret", headers=admin)
    assert rotated.status_code == 200
    assert rotated.json()["signing_secret"] not in (secret, None)
    assert (
        rotated.json()["signing_secret"]
        not in (await client.get("/api/v1/channels", headers=admin)).text
    )


async def test_outbound_url_must_be_https_or_loopback(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for url in (
        "http://bridge.example.invalid/out",
        "ftp://127.0.0.1/x",
        "https://user:pw@bridge.example.invalid/",
        "http://127.0.0.1.evil.invalid/",
    ):
        response = await configure(client, admin, "sms", url)
        assert response.status_code == 422, url
        assert response.json()["error"]["field"] == "outbound_url"
    assert (await configure(client, admin, "sms", "http://127.0.0.1:9/x")).status_code == 201
    assert (await configure(client, admin, "web")).status_code == 422


async def test_only_admins_manage_channels(
    world: World, client: httpx.AsyncClient, team: dict[str, Account]
) -> None:
    alice = await world.headers(team["alice"])
    assert (await configure(client, alice)).status_code == 403
    assert (await client.get("/api/v1/channels", headers=alice)).status_code == 403
    assert (await client.get("/api/v1/channels/deliveries", headers=alice)).status_code == 403
    rotate = await client.post("/api/v1/channels/sms/rotate-secret", headers=alice)
    assert rotate.status_code == 403


async def test_rotating_a_secret_retires_the_old_one(
    client: httpx.AsyncClient, admin: dict[str, str], sms_secret: str, rt: Runtime
) -> None:
    rotated = await client.post("/api/v1/channels/sms/rotate-secret", headers=admin)
    new_secret = rotated.json()["signing_secret"]
    body = inbound()
    old = await hook(client, body, signed(sms_secret, body))
    assert old.status_code == 401
    assert old.json()["error"]["code"] == "invalid_signature"
    assert (await hook(client, body, signed(new_secret, body))).status_code == 200


# -- inbound webhook ----------------------------------------------------------------------


async def test_signed_inbound_message_creates_a_conversation_once(
    client: httpx.AsyncClient, admin: dict[str, str], sms_secret: str, rt: Runtime
) -> None:
    body = inbound()
    first = await hook(client, body, signed(sms_secret, body))
    assert first.status_code == 200, first.text
    assert (first.json()["seq"], first.json()["duplicate"]) == (1, False)
    conversation_id = first.json()["conversation_id"]

    # The provider redelivers the same message (new timestamp, same id): nothing new is stored.
    again = await hook(client, body, signed(sms_secret, body))
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert await counts(rt) == (1, 1, 1)

    second = inbound("m-2", "Any news?")
    follow_up = await hook(client, second, signed(sms_secret, second))
    assert follow_up.json()["conversation_id"] == conversation_id
    assert follow_up.json()["seq"] == 2

    detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)).json()
    assert (detail["channel"], detail["status"]) == ("sms", "waiting")
    assert (detail["visitor"]["name"], detail["visitor"]["phone"]) == ("Grace Caller", PHONE)
    listed = await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=admin)
    assert [
        (m["seq"], m["author"]["kind"], m["client_id"], m["body"])
        for m in listed.json()["messages"]
    ] == [
        (1, "visitor", "m-1", "Hello, my parcel is late"),
        (2, "visitor", "m-2", "Any news?"),
    ]
    # The phone number is in the vault (found by its blind index), not in the visitors table.
    async with rt.db.session() as session:
        visitor = await session.scalar(select(Visitor))
        assert visitor is not None
        found = await rt.vault.find_subjects(
            session, workspace_id=visitor.workspace_id, field="phone", value="+33612345678"
        )
    assert found == [visitor.subject_id]


@pytest.mark.parametrize("problem", ["wrong_secret", "missing", "stale", "tampered", "garbled"])
async def test_unsigned_or_badly_signed_inbound_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, sms_secret: str, rt: Runtime, problem: str
) -> None:
    body = inbound()
    now = int(clock.utcnow().timestamp())
    signature: str | None = {
        "wrong_secret": signed("0" * 64, body),
        "missing": None,
        "stale": signed(sms_secret, body, now - 301),
        "tampered": signed(sms_secret, inbound(text="something else")),
        "garbled": "v1=abc,t=yesterday",
    }[problem]
    response = await hook(client, body, signature)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert await counts(rt) == (0, 0, 0)


async def test_signature_just_inside_the_window_is_accepted(
    client: httpx.AsyncClient, sms_secret: str
) -> None:
    body = inbound()
    now = int(clock.utcnow().timestamp())
    assert (await hook(client, body, signed(sms_secret, body, now - 290))).status_code == 200


async def test_unknown_workspace_channel_or_disabled_endpoint_is_not_found(
    world: World, client: httpx.AsyncClient, admin: dict[str, str], sms_secret: str, rt: Runtime
) -> None:
    await world.workspace("globex")
    body = inbound()
    signature = signed(sms_secret, body)
    for path in (
        "/api/v1/hooks/nope/sms",
        "/api/v1/hooks/acme/fax",
        "/api/v1/hooks/acme/web",
        "/api/v1/hooks/acme/social",  # not configured
        "/api/v1/hooks/globex/sms",  # another workspace's channel
    ):
        response = await hook(client, body, signature, path)
        assert response.status_code == 404, path
    await configure(client, admin, "sms", enabled=False)
    assert (await hook(client, body, signature)).status_code == 404
    assert await counts(rt) == (0, 0, 0)


async def test_signed_but_malformed_body_is_a_validation_error(
    client: httpx.AsyncClient, sms_secret: str, rt: Runtime
) -> None:
    body = json.dumps({"thread_id": "t", "text": "hi"}).encode()
    response = await hook(client, body, signed(sms_secret, body))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "message_id"
    broken = b"{not json"
    assert (await hook(client, broken, signed(sms_secret, broken))).status_code == 400
    assert await counts(rt) == (0, 0, 0)


async def test_a_closed_thread_continues_in_a_new_conversation_of_the_same_visitor(
    client: httpx.AsyncClient, admin: dict[str, str], sms_secret: str, rt: Runtime
) -> None:
    body = inbound()
    first = (await hook(client, body, signed(sms_secret, body))).json()
    closed = await client.post(
        f"/api/v1/conversations/{first['conversation_id']}/close", headers=admin
    )
    assert closed.json()["status"] == "closed"
    # A late redelivery of the old message is still recognised.
    assert (await hook(client, body, signed(sms_secret, body))).json()["duplicate"] is True
    later = inbound("m-3", "Back again")
    second = (await hook(client, later, signed(sms_secret, later))).json()
    assert second["conversation_id"] != first["conversation_id"]
    assert second["seq"] == 1
    async with rt.db.session() as session:
        old = await session.get(Conversation, uuid.UUID(first["conversation_id"]))
        new = await session.get(Conversation, uuid.UUID(second["conversation_id"]))
    assert old is not None and new is not None
    assert new.visitor_id == old.visitor_id
    assert old.external_thread_index is None and old.external_thread_sealed is None
    assert new.external_thread_index == rt.vault.thread_index(new.workspace_id, "sms", "thread-42")
    assert new.external_thread_sealed is not None and "thread-42" not in new.external_thread_sealed
    assert (
        await rt.vault.open_thread(new.workspace_id, new.id, new.external_thread_sealed)
        == "thread-42"
    )
    assert await counts(rt) == (2, 2, 1)


async def test_inbound_message_is_routed_and_published_in_real_time(
    world: World,
    client: httpx.AsyncClient,
    team: dict[str, Account],
    sms_secret: str,
    rt: Runtime,
) -> None:
    alice = await world.headers(team["alice"])
    await client.put("/api/v1/me/presence", json={"availability": "available"}, headers=alice)
    console = rt.broker.subscription()
    await console.add(f"ws:{world.workspaces['acme']}")
    body = inbound()
    result = (await hook(client, body, signed(sms_secret, body))).json()
    conversation_id = result["conversation_id"]
    changes = []
    while len(changes) < 2:
        _channel, event = await asyncio.wait_for(console.get(), 2)
        if event.get("type") == "conversation":
            changes.append((event["change"], event["conversation"]["id"]))
    assert changes == [("created", conversation_id), ("assigned", conversation_id)]
    detail = await client.get(f"/api/v1/conversations/{conversation_id}", headers=alice)
    assert (detail.json()["status"], detail.json()["assignee_id"]) == (
        "open",
        str(team["alice"].id),
    )
    # The next message reaches those following the conversation, with its sequence number.
    follower = rt.broker.subscription()
    await follower.add(f"conv:{conversation_id}")
    second = inbound("m-2", "Still there?")
    await hook(client, second, signed(sms_secret, second))
    _channel, event = await asyncio.wait_for(follower.get(), 2)
    assert (event["type"], event["seq"], event["body"], event["author"]["kind"]) == (
        "message",
        2,
        "Still there?",
        "visitor",
    )
    await console.close()
    await follower.close()


# -- outbound replies ---------------------------------------------------------------------


async def _reply(
    client: httpx.AsyncClient, headers: dict[str, str], conversation_id: str, text: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": uuid.uuid4().hex, "body": text},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()["message"]
    return message


async def test_operator_reply_is_posted_signed_to_the_outbound_url(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, rt: Runtime
) -> None:
    secret = (await configure(client, admin, "sms", receiver.url)).json()["signing_secret"]
    body = inbound()
    conversation_id = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    await channels.drain()
    assert receiver.received == []  # the visitor's own message is not echoed back

    message = await _reply(client, admin, conversation_id, "We are on it")
    await channels.drain(grace_seconds=10)
    assert len(receiver.received) == 1
    headers, raw = receiver.received[0]
    assert verify(secret, headers["x-confide-signature"], raw)
    assert json.loads(raw) == {
        "thread_id": "thread-42",
        "message_id": message["id"],
        "text": "We are on it",
        "seq": 2,
    }
    deliveries = await client.get("/api/v1/channels/deliveries?status=delivered", headers=admin)
    [delivery] = deliveries.json()["deliveries"]
    assert (delivery["message_id"], delivery["attempts"], delivery["last_status_code"]) == (
        message["id"],
        1,
        200,
    )
    assert delivery["conversation_id"] == conversation_id
    failed = await client.get("/api/v1/channels/deliveries?status=failed", headers=admin)
    assert failed.json()["deliveries"] == []


async def test_failing_endpoint_is_retried_then_recorded_as_failed(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(channels.outbound, "RETRY_BACKOFF_SECONDS", (0.05, 0.05))
    receiver.answers = [500, 500, 500, 500]
    secret = (await configure(client, admin, "sms", receiver.url)).json()["signing_secret"]
    body = inbound()
    conversation_id = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    message = await _reply(client, admin, conversation_id, "Sorry for the wait")
    await channels.drain(grace_seconds=10)
    assert len(receiver.received) == channels.MAX_ATTEMPTS == 3
    assert all(verify(secret, h["x-confide-signature"], raw) for h, raw in receiver.received)
    assert [h["x-confide-attempt"] for h, _ in receiver.received] == ["1", "2", "3"]
    failed = (await client.get("/api/v1/channels/deliveries?status=failed", headers=admin)).json()
    [delivery] = failed["deliveries"]
    assert delivery["message_id"] == message["id"]
    assert (delivery["attempts"], delivery["last_status_code"], delivery["last_error"]) == (
        3,
        500,
        "http_500",
    )
    assert delivery["next_attempt_at"] is None


async def test_a_retry_that_succeeds_ends_delivered(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(channels.outbound, "RETRY_BACKOFF_SECONDS", (0.05, 0.05))
    receiver.answers = [503]
    secret = (await configure(client, admin, "sms", receiver.url)).json()["signing_secret"]
    body = inbound()
    conversation_id = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    await _reply(client, admin, conversation_id, "Second try works")
    await channels.drain(grace_seconds=10)
    assert len(receiver.received) == 2
    [delivery] = (await client.get("/api/v1/channels/deliveries", headers=admin)).json()[
        "deliveries"
    ]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        2,
        200,
    )


async def test_a_client_error_is_not_retried(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver
) -> None:
    receiver.answers = [404]
    secret = (await configure(client, admin, "sms", receiver.url)).json()["signing_secret"]
    body = inbound()
    conversation_id = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    await _reply(client, admin, conversation_id, "Hello?")
    await channels.drain(grace_seconds=10)
    assert len(receiver.received) == 1
    [delivery] = (
        await client.get("/api/v1/channels/deliveries?status=failed", headers=admin)
    ).json()["deliveries"]
    assert (delivery["attempts"], delivery["last_status_code"]) == (1, 404)


async def test_pending_delivery_left_by_a_crash_is_sent_by_deliver_due(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = (await configure(client, admin, "sms", receiver.url)).json()["signing_secret"]
    body = inbound()
    conversation_id = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    # The process "dies" right after the commit: no background attempt is made.
    monkeypatch.setattr(outbound, "start_delivery", lambda rt, delivery_id: None)
    await _reply(client, admin, conversation_id, "Survives restarts")
    pending = (await client.get("/api/v1/channels/deliveries?status=pending", headers=admin)).json()
    assert [d["attempts"] for d in pending["deliveries"]] == [0]
    assert receiver.received == []
    assert await channels.deliver_due(rt) == 1
    assert await channels.deliver_due(rt) == 0  # nothing left to do, nothing sent twice
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0][1])["text"] == "Survives restarts"
    async with rt.db.session() as session:
        delivery = await session.scalar(select(ChannelDelivery))
    assert delivery is not None and delivery.status.value == "delivered"


async def test_reply_without_an_outbound_url_is_recorded_as_failed(
    client: httpx.AsyncClient, admin: dict[str, str], sms_secret: str
) -> None:
    body = inbound()
    conversation_id = (await hook(client, body, signed(sms_secret, body))).json()["conversation_id"]
    message = await _reply(client, admin, conversation_id, "Nowhere to go")
    failed = (await client.get("/api/v1/channels/deliveries?status=failed", headers=admin)).json()
    assert [(d["message_id"], d["last_error"], d["attempts"]) for d in failed["deliveries"]] == [
        (message["id"], "no_outbound_url", 0)
    ]


async def test_web_chat_replies_are_not_delivered_anywhere(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, rt: Runtime
) -> None:
    await configure(client, admin, "sms", receiver.url)
    visitor = await new_visitor(client)
    chat = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "c1", "body": "hi"}},
        headers=visitor.headers,
    )
    await _reply(client, admin, chat.json()["conversation"]["id"], "Hello from the web")
    await channels.drain()
    assert receiver.received == []
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelDelivery)) == 0


async def test_logs_carry_neither_text_nor_phone_numbers(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(channels.outbound, "RETRY_BACKOFF_SECONDS", (0.01, 0.01))
    receiver.answers = [500]
    # Everything at the default level, Confide's own loggers at DEBUG. (Third-party DEBUG
    # tracing, e.g. aiosqlite's SQL parameters, is outside what Confide writes.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="confide")
    secret = (await configure(client, admin, "sms", receiver.url)).json()["signing_secret"]
    body = inbound(text=SECRET_TEXT)
    conversation_id = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    await _reply(client, admin, conversation_id, f"About {SECRET_TEXT}")
    await channels.drain(grace_seconds=10)
    assert len(receiver.received) == 2
    assert "delivery" in caplog.text  # the delivery was logged...
    for private in (SECRET_TEXT, PHONE, "+33612345678", "thread-42", secret):
        assert private not in caplog.text  # ...without what was said, by whom or where


# -- recorded call/SMS/video --------------------------------------------------------------

CALL_METADATA = {
    "started_at": "2026-03-02T10:15:00+00:00",
    "duration_seconds": 312,
    "direction": "inbound",
    "queue": "billing",
    "recorded_by": "pbx-7",
}


async def test_call_recording_stores_metadata_and_transcript_in_order(
    client: httpx.AsyncClient, admin: dict[str, str], rt: Runtime
) -> None:
    key = await api_key(client, admin)
    transcript = [
        {"author": "visitor", "text": "Hi, I was double charged", "client_id": "l1"},
        {"author": "operator", "text": "Let me check that for you"},
        {"author": "bot", "text": "Refund issued"},
        {"author": "system", "text": "Call ended"},
    ]
    response = await client.post(
        "/api/v1/conversations/recorded",
        json={
            "channel": "call",
            "visitor": {"name": "Grace Caller", "phone": PHONE},
            "external_thread": "call-981",
            "metadata": CALL_METADATA,
            "transcript": transcript,
        },
        headers=key,
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["duplicate"] is False
    conversation = data["conversation"]
    assert (conversation["channel"], conversation["status"]) == ("call", "closed")
    assert conversation["call_metadata"] == CALL_METADATA
    assert conversation["created_at"].startswith("2026-03-02T10:15:00")
    assert conversation["closed_at"].startswith("2026-03-02T10:20:12")
    assert [(m["seq"], m["author"], m["client_id"]) for m in data["messages"]] == [
        (1, "visitor", "l1"),
        (2, "operator", None),
        (3, "bot", None),
        (4, "system", None),
    ]
    assert "Refund issued" not in response.text  # the text is not echoed back

    detail = await client.get(f"/api/v1/conversations/{conversation['id']}", headers=admin)
    assert detail.json()["call_metadata"] == CALL_METADATA
    assert detail.json()["visitor"]["phone"] == PHONE
    listed = await client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=admin)
    assert [(m["seq"], m["author"]["kind"], m["body"]) for m in listed.json()["messages"]] == [
        (i + 1, line["author"], line["text"]) for i, line in enumerate(transcript)
    ]

    # A retried recording returns what was stored; a different one under that id conflicts.
    retry = await client.post(
        "/api/v1/conversations/recorded",
        json={"channel": "call", "external_thread": "call-981", "metadata": CALL_METADATA},
        headers=key,
    )
    assert retry.status_code == 200
    assert retry.json()["duplicate"] is True
    assert retry.json()["conversation"]["id"] == conversation["id"]
    assert len(retry.json()["messages"]) == 4
    other = await client.post(
        "/api/v1/conversations/recorded",
        json={
            "channel": "call",
            "external_thread": "call-981",
            "metadata": {**CALL_METADATA, "duration_seconds": 5},
        },
        headers=key,
    )
    assert other.status_code == 409
    assert await counts(rt) == (1, 4, 1)


async def test_recording_attaches_to_an_existing_visitor_by_vuid(
    client: httpx.AsyncClient, admin: dict[str, str], rt: Runtime
) -> None:
    key = await api_key(client, admin)
    visitor = await new_visitor(client)
    response = await client.post(
        "/api/v1/conversations/recorded",
        json={
            "channel": "sms",
            "vuid": visitor.vuid,
            "metadata": {**CALL_METADATA, "direction": "outbound"},
            "transcript": [{"author": "operator", "text": "Your appointment is at 3pm"}],
            "status": "open",
        },
        headers=key,
    )
    assert response.status_code == 201, response.text
    assert response.json()["visitor"]["vuid"] == visitor.vuid
    # "open": it enters its group's queue like a new chat (nobody is available here).
    assert response.json()["conversation"]["status"] == "waiting"
    unknown = await client.post(
        "/api/v1/conversations/recorded",
        json={"channel": "sms", "vuid": "v_unknown", "metadata": CALL_METADATA},
        headers=key,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "vuid"
    assert await counts(rt) == (1, 1, 1)


async def test_video_is_metadata_only(
    client: httpx.AsyncClient, admin: dict[str, str], rt: Runtime
) -> None:
    key = await api_key(client, admin)
    refused = await client.post(
        "/api/v1/conversations/recorded",
        json={
            "channel": "video",
            "metadata": CALL_METADATA,
            "transcript": [{"author": "visitor", "text": "Can you see my screen?"}],
        },
        headers=key,
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "transcript"
    assert await counts(rt) == (0, 0, 0)
    accepted = await client.post(
        "/api/v1/conversations/recorded",
        json={"channel": "video", "metadata": CALL_METADATA},
        headers=key,
    )
    assert accepted.status_code == 201
    assert accepted.json()["messages"] == []
    assert accepted.json()["conversation"]["call_metadata"]["duration_seconds"] == 312


async def test_metadata_refuses_identifiers_and_nested_values(
    client: httpx.AsyncClient, admin: dict[str, str], rt: Runtime
) -> None:
    key = await api_key(client, admin)
    for extra, field_name in (
        ({"caller": PHONE}, "metadata.caller"),
        ({"tags": ["a", "b"]}, "metadata.tags"),
        ({f"k{i}": i for i in range(21)}, "metadata"),
    ):
        response = await client.post(
            "/api/v1/conversations/recorded",
            json={"channel": "call", "metadata": {**CALL_METADATA, **extra}},
            headers=key,
        )
        assert response.status_code == 422, extra
        assert response.json()["error"]["field"].startswith(field_name)
    missing = await client.post(
        "/api/v1/conversations/recorded",
        json={"channel": "call", "metadata": {"duration_seconds": 3, "direction": "inbound"}},
        headers=key,
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "metadata.started_at"
    assert await counts(rt) == (0, 0, 0)


async def test_operators_cannot_record_conversations(
    world: World, client: httpx.AsyncClient, team: dict[str, Account], admin: dict[str, str]
) -> None:
    alice = await world.headers(team["alice"])
    body = {"channel": "call", "metadata": CALL_METADATA}
    for headers in (alice, admin):
        response = await client.post("/api/v1/conversations/recorded", json=body, headers=headers)
        assert response.status_code == 403
    assert (await client.post("/api/v1/conversations/recorded", json=body)).status_code == 401


# -- exactly once across conversations ------------------------------------------------------


async def test_a_redelivery_after_the_thread_moved_on_is_not_stored_again(
    client: httpx.AsyncClient, admin: dict[str, str], sms_secret: str, rt: Runtime
) -> None:
    body = inbound()
    first = (await hook(client, body, signed(sms_secret, body))).json()
    await client.post(f"/api/v1/conversations/{first['conversation_id']}/close", headers=admin)
    later = inbound("m-3", "Back again")
    second = (await hook(client, later, signed(sms_secret, later))).json()
    assert second["conversation_id"] != first["conversation_id"]
    # The provider redelivers m-1 now: it belongs to the closed conversation, not the new one.
    again = await hook(client, body, signed(sms_secret, body))
    assert again.status_code == 200
    assert again.json() == {**first, "duplicate": True}
    assert await counts(rt) == (2, 2, 1)
    listed = await client.get(
        f"/api/v1/conversations/{second['conversation_id']}/messages", headers=admin
    )
    assert [m["client_id"] for m in listed.json()["messages"]] == ["m-3"]


async def test_a_redelivery_with_transcripts_off_is_a_duplicate(
    client: httpx.AsyncClient, admin: dict[str, str], sms_secret: str, rt: Runtime
) -> None:
    changed = await client.patch(
        "/api/v1/workspace", json={"store_transcripts": False}, headers=admin
    )
    assert changed.status_code == 200
    body = inbound()
    first = await hook(client, body, signed(sms_secret, body))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    again = await hook(client, body, signed(sms_secret, body))
    assert again.json() == {**first.json(), "duplicate": True}
    assert await counts(rt) == (1, 0, 1)
    # The receipt keeps a keyed hash of the provider's id, not the id.
    from confide.chat.models import InboundReceipt

    async with rt.db.session() as session:
        keys = (await session.scalars(select(InboundReceipt.provider_message_key))).all()
    assert len(keys) == 1 and keys[0] != "m-1" and len(keys[0]) == 64
