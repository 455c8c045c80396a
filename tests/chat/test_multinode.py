"""Two real Confide processes sharing PostgreSQL and Redis behave as one service.

A visitor on node A and an agent on node B talk live (events cross nodes through Redis), and
a visitor who drops off node A resumes on node B from the database without losing a message.
Tokens are issued by node A and accepted by node B: every node shares the instance secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.exceptions import RedisError

from confide.access.models import Role
from confide.core.config import Settings
from confide.crypto.providers import MASTER_KEY_FILE
from tests.chat.helpers import Socket, open_socket
from tests.conftest import Account, World

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = os.environ.get("CONFIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO_ROOT = Path(__file__).resolve().parents[2]
# Random per run (so Redis rate-limit keys, which are keyed hashes, never carry over between
# runs), fixed within it: both nodes and this test's own runtime sign and hash with it.
SECRET_KEY = secrets.token_urlsafe(48)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secret_key": SecretStr(SECRET_KEY)})


@dataclass
class Node:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    http_url: str
    ws_url: str

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Shared:
    """What every node of a cluster shares: database, key store, master key, instance secret."""

    database_url: str
    keystore_url: str
    master_key: str


def node_env(shared: Shared, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
    env.update(
        {
            "CONFIDE_DATABASE_URL": shared.database_url,
            "CONFIDE_KEYSTORE_URL": shared.keystore_url,
            "CONFIDE_MASTER_KEY": shared.master_key,
            "CONFIDE_REDIS_URL": REDIS_URL,
            "CONFIDE_SECRET_KEY": SECRET_KEY,
            "CONFIDE_DATA_DIR": str(data_dir),
            "CONFIDE_ARGON2_MEMORY_KIB": "1024",
            "CONFIDE_ARGON2_TIME_COST": "1",
            "CONFIDE_ARGON2_PARALLELISM": "1",
            "CONFIDE_LOG_LEVEL": "WARNING",
        }
    )
    return env


def start_node(name: str, shared: Shared, tmp_path: Path) -> Node:
    port = free_port()
    data_dir = tmp_path / f"node-{name}"
    data_dir.mkdir()
    log_path = tmp_path / f"node-{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "confide", "serve", "--port", str(port), "--no-migrate"],
            env=node_env(shared, data_dir),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Node(name, process, log_path, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")


def stop_node(node: Node) -> None:
    if node.process.poll() is not None:
        return
    node.process.terminate()
    try:
        node.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        node.process.kill()
        node.process.wait(timeout=STOP_TIMEOUT)


async def wait_healthy(node: Node) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=node.http_url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                pytest.fail(
                    f"node {node.name} exited with {node.process.returncode}:\n{node.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                response = await http.get("/api/v1/health")
                if response.status_code == 200 and response.json()["status"] == "ok":
                    return
            await asyncio.sleep(0.1)
    pytest.fail(f"node {node.name} did not answer /api/v1/health in time:\n{node.log_tail()}")


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client: aioredis.Redis = aioredis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), 2)
    except (RedisError, OSError, TimeoutError) as exc:
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    yield client
    await client.aclose()


@pytest.fixture
async def team(world: World) -> dict[str, Any]:
    # Created through the test's runtime before any node starts (same secret, same database).
    support = await world.group("Support")
    agent = await world.operator("alice", Role.AGENT, groups=[support], alias="Alice")
    return {"support": support, "agent": agent}


@pytest.fixture
def nodes(
    team: dict[str, Any],
    database_url: str,
    settings: Settings,
    tmp_path: Path,
    redis_client: aioredis.Redis,
) -> Iterator[tuple[Node, Node]]:
    shared = Shared(
        database_url=database_url,
        keystore_url=settings.resolved_keystore_url,
        master_key=(settings.data_dir / MASTER_KEY_FILE).read_text().strip(),
    )
    started: list[Node] = []
    try:
        started.append(start_node("a", shared, tmp_path))
        started.append(start_node("b", shared, tmp_path))
        yield started[0], started[1]
    finally:
        for node in started:
            stop_node(node)


async def login(http: httpx.AsyncClient, account: Account) -> str:
    response = await http.post(
        "/api/v1/auth/login",
        json={
            "workspace": account.workspace,
            "username": account.username,
            "password": account.password,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def conversation_subscribers(client: aioredis.Redis, conversation_id: str) -> int:
    [(_, count)] = await client.pubsub_numsub(f"confide:conv:{conversation_id}")
    return int(count)


async def subscribe(sock: Socket, conversation_id: str, since: int) -> list[dict[str, Any]]:
    """Subscribe and return the backlog frames sent before 'subscribed' (that one last)."""
    await sock.send(type="subscribe", conversation_id=conversation_id, since=since)
    frames = []
    while True:
        frame = await sock.recv()
        frames.append(frame)
        if frame["type"] in ("subscribed", "error"):
            return frames


async def messages_until(sock: Socket, seq: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The message frames received up to and including the one with ``seq``."""
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["seq"] < seq:
        frames.append(await sock.recv_until(lambda f: f["type"] == "message", timeout))
    return frames


async def test_two_nodes_deliver_live_across_nodes_and_resume_on_another_node(
    nodes: tuple[Node, Node], team: dict[str, Any], redis_client: aioredis.Redis
) -> None:
    node_a, node_b = nodes
    await asyncio.gather(wait_healthy(node_a), wait_healthy(node_b))
    sockets: list[Socket] = []
    async with (
        httpx.AsyncClient(base_url=node_a.http_url, timeout=10.0) as http_a,
        httpx.AsyncClient(base_url=node_b.http_url, timeout=10.0) as http_b,
    ):
        try:
            # The visitor and the agent's token both come from node A...
            created = await http_a.post("/api/v1/widget/acme/visitors")
            assert created.status_code == 201, created.text
            visitor_token = created.json()["token"]
            started = await http_a.post(
                "/api/v1/widget/conversations",
                json={"group_id": str(team["support"])},
                headers={"Authorization": f"Bearer {visitor_token}"},
            )
            assert started.status_code == 201, started.text
            conversation_id = started.json()["conversation"]["id"]
            agent_token = await login(http_a, team["agent"])
            # ...and node B accepts them: the nodes share the instance secret.
            me = await http_b.get(
                f"/api/v1/widget/conversations/{conversation_id}",
                headers={"Authorization": f"Bearer {visitor_token}"},
            )
            assert me.status_code == 200, me.text

            agent = await open_socket(f"{node_b.ws_url}/api/v1/ws/console", token=agent_token)
            sockets.append(agent)
            [subscribed] = await subscribe(agent, conversation_id, since=0)
            assert (subscribed["type"], subscribed["last_seq"]) == ("subscribed", 0)

            guest = await open_socket(f"{node_a.ws_url}/api/v1/ws/widget", token=visitor_token)
            sockets.append(guest)
            [subscribed] = await subscribe(guest, conversation_id, since=0)
            assert (subscribed["type"], subscribed["last_seq"]) == ("subscribed", 0)

            async def both_nodes_subscribed() -> bool:
                return await conversation_subscribers(redis_client, conversation_id) == 2

            deadline = time.monotonic() + 5
            while not await both_nodes_subscribed():  # one Redis subscription per node
                assert time.monotonic() < deadline, "nodes did not subscribe in Redis"
                await asyncio.sleep(0.05)

            # Visitor on A -> agent on B, live (no backlog: the agent already has seq 0).
            await guest.send(
                type="message", conversation_id=conversation_id, client_id="v-1", body="Hi from A"
            )
            ack = await guest.recv_until(lambda f: f["type"] == "ack")
            assert (ack["client_id"], ack["seq"], ack["duplicate"]) == ("v-1", 1, False)
            [live] = await messages_until(agent, 1)
            assert (live["seq"], live["body"], live["author"]["kind"]) == (
                1,
                "Hi from A",
                "visitor",
            )
            assert live["conversation_id"] == conversation_id

            # Agent on B -> visitor on A, live.
            await agent.send(
                type="message", conversation_id=conversation_id, client_id="a-1", body="Hi from B"
            )
            ack = await agent.recv_until(lambda f: f["type"] == "ack")
            assert (ack["client_id"], ack["seq"]) == ("a-1", 2)
            seen = await messages_until(guest, 2)  # its own message comes back first
            assert [(m["seq"], m["body"], m["author"]["kind"]) for m in seen] == [
                (1, "Hi from A", "visitor"),
                (2, "Hi from B", "operator"),
            ]
            assert seen[-1]["author"]["alias"] == "Alice"
            last_seen = seen[-1]["seq"]

            # The visitor drops off node A; the agent goes on writing on node B.
            await guest.nothing_for(0.2)  # read what is left so the close handshake is quick
            await guest.close()
            sockets.remove(guest)
            for client_id, body, seq in (("a-2", "Still there?", 3), ("a-3", "Take care", 4)):
                await agent.send(
                    type="message", conversation_id=conversation_id, client_id=client_id, body=body
                )
                ack = await agent.recv_until(lambda f: f["type"] == "ack")
                assert (ack["client_id"], ack["seq"]) == (client_id, seq)

            # It comes back on node B and gets exactly what it missed, in order.
            guest = await open_socket(f"{node_b.ws_url}/api/v1/ws/widget", token=visitor_token)
            sockets.append(guest)
            *missed, subscribed = await subscribe(guest, conversation_id, since=last_seen)
            assert [(m["type"], m["seq"], m["body"]) for m in missed] == [
                ("message", 3, "Still there?"),
                ("message", 4, "Take care"),
            ]
            assert (subscribed["type"], subscribed["last_seq"]) == ("subscribed", 4)
            assert [f for f in await guest.nothing_for(0.3) if f["type"] == "message"] == []

            # And node A no longer listens to the conversation: its last socket left.
            deadline = time.monotonic() + 5
            while await conversation_subscribers(redis_client, conversation_id) != 1:
                assert time.monotonic() < deadline, "node A kept its Redis subscription"
                await asyncio.sleep(0.05)
        finally:
            for sock in sockets:
                with contextlib.suppress(Exception):
                    await sock.nothing_for(0.05)
                    await asyncio.wait_for(sock.close(), 5)
    for node in nodes:
        assert node.process.poll() is None, f"node {node.name} died:\n{node.log_tail()}"
