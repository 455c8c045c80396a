"""Minimisation: transcripts off (relayed live, nothing stored), IP handling in connection logs,
and the purge that bounds how long connection logs are kept."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from confide.access.models import Role
from confide.api.app import create_app
from confide.chat.models import Conversation
from confide.core import clock
from confide.privacy.connections import minimise_user_agent, purge_connection_logs, read_ip
from confide.privacy.models import ConnectionLog
from confide.runtime import Runtime
from tests.chat.helpers import agent_token, new_visitor, open_socket, start_chat
from tests.cli.test_cli import _confide
from tests.conftest import LiveServer, World
from tests.privacy.helpers import admin_headers, count_rows, set_privacy

DAY_SECONDS = 86_400


async def test_with_transcripts_off_messages_are_relayed_live_but_never_stored(
    world: World, client: httpx.AsyncClient, rt: Runtime, live_server: LiveServer
) -> None:
    admin = await admin_headers(world)
    await set_privacy(client, admin, store_transcripts=False)
    support = await world.group("Support")
    agent_account = await world.operator("alice", Role.AGENT, groups=[support])
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Before anyone listened", group_id=support)
    conversation_id = chat["conversation"]["id"]
    assert chat["message"]["seq"] == 1

    agent = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/console", token=await agent_token(world, agent_account)
    )
    await agent.send(type="subscribe", conversation_id=conversation_id, since=0)
    subscribed = await agent.recv_until(lambda f: f["type"] == "subscribed")
    assert subscribed["last_seq"] == 1  # the statistic stays; the text is gone
    guest = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    await guest.send(type="subscribe", conversation_id=conversation_id, since=1)
    await guest.recv_until(lambda f: f["type"] == "subscribed")
    await guest.send(type="message", conversation_id=conversation_id, client_id="c-2", body="Live")
    ack = await guest.recv_until(lambda f: f["type"] == "ack")
    assert ack["seq"] == 2
    # The agent never saw seq 1 (not stored): the live event is delivered despite the gap.
    live = await agent.recv_until(lambda f: f["type"] == "message")
    assert (live["seq"], live["body"]) == (2, "Live")
    await agent.send(type="message", conversation_id=conversation_id, client_id="a-1", body="Hi")
    reply = await guest.recv_until(lambda f: f["type"] == "message" and f["seq"] == 3)
    assert reply["body"] == "Hi"
    await agent.close()
    await guest.close()

    await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/close", headers=visitor.headers
    )
    rated = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/csat",
        json={"score": 5, "comment": "Great"},
        headers=visitor.headers,
    )
    assert rated.status_code == 200, rated.text

    assert await count_rows(rt, "messages") == 0
    assert await count_rows(rt, "message_texts") == 0
    async with rt.db.session() as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None
    assert conversation.last_seq == 4  # three messages and the survey comment
    assert conversation.first_response_at is not None
    assert conversation.closed_at is not None and conversation.csat_score == 5
    # Resuming from the database has nothing to return.
    resumed = await client.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages", headers=visitor.headers
    )
    assert resumed.json()["messages"] == [] and resumed.json()["last_seq"] == 4


def _client_from(rt: Runtime, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime=rt), client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


@pytest.mark.parametrize(
    ("handling", "address", "kept"),
    [
        ("none", "203.0.113.77", None),
        ("truncated", "203.0.113.77", "203.0.113.0/24"),
        ("truncated", "2001:db8:1234:5678::9", "2001:db8:1234::/48"),
        ("full", "203.0.113.77", "203.0.113.77"),
    ],
)
async def test_connection_logs_keep_the_address_as_the_workspace_decides(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    caplog: pytest.LogCaptureFixture,
    handling: str,
    address: str,
    kept: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await admin_headers(world)
    await set_privacy(client, admin, ip_handling=handling)
    async with _client_from(rt, address) as remote:
        created = await remote.post(
            "/api/v1/widget/acme/visitors", headers={"User-Agent": "Browser/1.0 " + "x" * 300}
        )
    assert created.status_code == 201
    async with rt.db.session() as session:
        log = await session.scalar(select(ConnectionLog))
    assert log is not None and log.kind == "visitor_created" and log.visitor_id is not None
    assert log.user_agent == "Other (other)"  # only a coarse family is kept
    if kept is None:
        assert log.ip is None
    else:
        # Encrypted under the visitor's key: the column holds no part of the address.
        assert log.ip is not None and log.ip.startswith("ck1:")
        assert address.split(".")[0].split(":")[0] not in log.ip
    assert await read_ip(rt, None, log.id) == kept
    assert address not in caplog.text


async def test_default_is_truncated_and_sockets_are_logged(
    world: World, client: httpx.AsyncClient, rt: Runtime, live_server: LiveServer
) -> None:
    admin_account = await world.operator("ada", Role.ADMIN)
    visitor = await new_visitor(client)
    guest = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    console = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/console", token=await agent_token(world, admin_account)
    )
    await guest.close()
    await console.close()
    async with rt.db.session() as session:
        logs = (await session.scalars(select(ConnectionLog))).all()
    by_kind = {log.kind: log for log in logs}
    assert set(by_kind) == {"visitor_created", "widget_socket", "console_socket"}
    assert by_kind["console_socket"].operator_id == admin_account.id
    assert await read_ip(rt, None, by_kind["widget_socket"].id) == "127.0.0.0/24"
    assert await read_ip(rt, None, by_kind["console_socket"].id) == "127.0.0.0/24"


async def test_purge_removes_logs_past_each_workspaces_retention_and_is_idempotent(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    await set_privacy(client, admin, connection_log_retention_days=1)
    await world.workspace("globex")  # keeps the default year
    for slug in ("acme", "acme", "acme", "globex"):
        await new_visitor(client, slug)
    clock.advance(2 * DAY_SECONDS)
    fresh = await new_visitor(client, "acme")
    assert fresh.vuid

    batches: list[int] = []
    assert await purge_connection_logs(rt, batch_size=2, on_batch=batches.append) == 3
    assert batches == [2, 1]
    assert await purge_connection_logs(rt, batch_size=2) == 0
    assert await count_rows(rt, "connection_logs") == 2

    clock.advance(6 * DAY_SECONDS)
    assert await purge_connection_logs(rt) == 1  # acme's fresh one; globex's is kept a year
    assert await count_rows(rt, "connection_logs") == 1

    clock.advance(356 * DAY_SECONDS)  # 364 days after globex's visitor connected
    assert await purge_connection_logs(rt) == 0
    clock.advance(2 * DAY_SECONDS)
    assert await purge_connection_logs(rt) == 1
    assert await count_rows(rt, "connection_logs") == 0


async def test_retention_is_bounded_to_a_year(world: World, client: httpx.AsyncClient) -> None:
    admin = await admin_headers(world)
    response = await client.patch(
        "/api/v1/workspace", json={"connection_log_retention_days": 366}, headers=admin
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "connection_log_retention_days"


async def test_purge_command_deletes_expired_logs(
    world: World, client: httpx.AsyncClient, rt: Runtime, tmp_path: Path, database_url: str
) -> None:
    await world.workspace()
    await new_visitor(client)
    await new_visitor(client)
    async with rt.db.transaction() as session:
        oldest = await session.scalar(select(ConnectionLog).limit(1))
        assert oldest is not None
        oldest.created_at = clock.utcnow() - timedelta(days=366)  # past the default year
    result = await asyncio.to_thread(
        _confide, tmp_path, "purge-connection-logs", database_url=database_url
    )
    assert result.returncode == 0, result.stderr
    assert "Deleted 1 expired connection log(s)." in result.stdout
    assert await count_rows(rt, "connection_logs") == 1


@pytest.mark.parametrize(
    ("user_agent", "kept"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/156.0.8078.73 Safari/537.36",
            "Chrome 156 (Linux)",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox 133 (Windows)",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari 17 (iOS)",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0 Edg/131.0.2903.99",
            "Edge 131 (Android)",
        ),
        ("", None),
    ],
)
def test_only_a_coarse_browser_family_of_the_user_agent_is_kept(
    user_agent: str, kept: str | None
) -> None:
    assert minimise_user_agent(user_agent) == kept
