"""Chatting visitors and watching consoles that keep count of everything an outage does.

A ``Visitor`` sends numbered messages on its node and waits for each ack, retrying the same
``client_id`` after an error frame, and reconnecting (then resuming with ``since``) after a
close. A ``Console`` (the agent) subscribes to every conversation and records each message
sequence it receives. Every HTTP answer of 500 or above, every close (with its code, or none:
1006) and every duplicate is recorded in a shared ``Ledger`` for the test to assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.chat.helpers import token_subprotocols
from tests.faults.cluster import PASSWORD, Node

RETRY_PAUSE_SECONDS = 0.2
FRAME_TIMEOUT_SECONDS = 15.0
# Outages in the tests last seconds: anything still failing after this is a hang, reported.
GIVE_UP_SECONDS = 45.0


def _give_up_after(started: float, what: str) -> None:
    if time.monotonic() - started > GIVE_UP_SECONDS:
        raise AssertionError(f"{what} still failing after {GIVE_UP_SECONDS} s")


@dataclass
class Ledger:
    """What every client saw; the test asserts on it."""

    server_errors: list[str] = field(default_factory=list)  # 5xx that were not a proper 503
    unavailable: Counter[str] = field(default_factory=Counter)  # proper 503s, error frames
    closes: Counter[int | None] = field(default_factory=Counter)  # None: no close frame
    closes_without_error_frame: int = 0
    duplicates: list[str] = field(default_factory=list)

    def http(self, what: str, response: httpx.Response) -> None:
        if response.status_code < 500:
            return
        proper = (
            response.status_code == 503
            and response.headers.get("retry-after", "").isdigit()
            and response.json().get("error", {}).get("code") == "service_unavailable"
        )
        if proper:
            self.unavailable[f"http {what}"] += 1
        else:
            self.server_errors.append(f"{what}: HTTP {response.status_code} {response.text[:200]}")

    def closed(self, exc: ConnectionClosed, had_error_frame: bool) -> None:
        self.closes[exc.rcvd.code if exc.rcvd is not None else None] += 1
        if exc.rcvd is not None and exc.rcvd.code in (1011, 1013) and not had_error_frame:
            self.closes_without_error_frame += 1


async def _connect(url: str, ledger: Ledger, what: str, token: str) -> websockets.ClientConnection:
    """Open a socket (the token as a subprotocol, never in the URL), waiting out 503 answers
    to the handshake (recorded)."""
    started = time.monotonic()
    while True:
        _give_up_after(started, f"{what} socket")
        try:
            connection = await websockets.connect(
                url, open_timeout=10, ping_interval=None, subprotocols=token_subprotocols(token)
            )
        except InvalidStatus as exc:
            response = exc.response
            body = response.body.decode(errors="replace") if response.body else ""
            proper = (
                response.status_code == 503
                and (response.headers.get("Retry-After") or "").isdigit()
                and '"service_unavailable"' in body
            )
            if not proper:
                ledger.server_errors.append(f"{what} handshake: HTTP {response.status_code}")
                raise
            ledger.unavailable[f"handshake {what}"] += 1
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            continue
        except (OSError, TimeoutError):
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            continue
        ready = json.loads(await asyncio.wait_for(connection.recv(), FRAME_TIMEOUT_SECONDS))
        if ready.get("type") == "ready":
            return connection
        # An outage right after the upgrade: an error frame, then a close (1013).
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await asyncio.wait_for(connection.recv(), FRAME_TIMEOUT_SECONDS)
        if connection.close_code is not None:
            ledger.closes[connection.close_code] += 1
        await asyncio.sleep(RETRY_PAUSE_SECONDS)


async def http_retrying(
    ledger: Ledger, what: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """One REST call, repeated after 503 answers and refused connections (both recorded)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=15.0) as http:
        while True:
            _give_up_after(started, what)
            try:
                response = await http.request(method, url, **kwargs)
            except httpx.TransportError:
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            ledger.http(what, response)
            if response.status_code != 503:
                return response
            await asyncio.sleep(RETRY_PAUSE_SECONDS)


async def login(ledger: Ledger, node: Node, username: str) -> str:
    response = await http_retrying(
        ledger,
        "login",
        "POST",
        f"{node.http_url}/api/v1/auth/login",
        json={"workspace": "acme", "username": username, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@dataclass
class Sent:
    client_id: str
    body: str
    sent_at: float  # monotonic seconds, when the first attempt left
    ack: dict[str, Any] | None = None


class Visitor:
    """One visitor chatting on one node (see the module docstring)."""

    def __init__(self, name: str, node: Node, ledger: Ledger, group_id: str) -> None:
        self.name = name
        self.node = node
        self.ledger = ledger
        self.group_id = group_id
        self.token = ""
        self.conversation_id = ""
        self.sent: list[Sent] = []
        self.seen: list[int] = []  # message seqs received, in order
        self.connection: websockets.ClientConnection | None = None
        self.error_frame_pending = False

    async def join(self) -> None:
        created = await http_retrying(
            self.ledger, "visitor", "POST", f"{self.node.http_url}/api/v1/widget/acme/visitors"
        )
        assert created.status_code == 201, created.text
        self.token = created.json()["token"]
        started = await http_retrying(
            self.ledger,
            "conversation",
            "POST",
            f"{self.node.http_url}/api/v1/widget/conversations",
            json={"group_id": self.group_id},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        # 200: a retry whose first attempt got through answers the same conversation.
        assert started.status_code in (200, 201), started.text
        self.conversation_id = started.json()["conversation"]["id"]

    @property
    def last_seq(self) -> int:
        return self.seen[-1] if self.seen else 0

    async def _open(self) -> websockets.ClientConnection:
        url = f"{self.node.ws_url}/api/v1/ws/widget"
        while True:
            connection = await _connect(url, self.ledger, "widget", self.token)
            self.connection = connection
            self.error_frame_pending = False
            await self._send({"type": "subscribe", "conversation_id": self.conversation_id})
            try:
                while True:
                    frame = await self._recv()
                    if frame["type"] == "subscribed":
                        return connection
                    if frame["type"] == "error":
                        await asyncio.sleep(RETRY_PAUSE_SECONDS)
                        await self._send(
                            {"type": "subscribe", "conversation_id": self.conversation_id}
                        )
            except ConnectionClosed as exc:
                self.ledger.closed(exc, self.error_frame_pending)

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self.connection is not None
        if frame["type"] == "subscribe":
            frame["since"] = self.last_seq
        await self.connection.send(json.dumps(frame))

    async def _recv(self) -> dict[str, Any]:
        assert self.connection is not None
        frame: dict[str, Any] = json.loads(
            await asyncio.wait_for(self.connection.recv(), FRAME_TIMEOUT_SECONDS)
        )
        if frame["type"] == "message":
            if frame["seq"] <= self.last_seq:
                self.ledger.duplicates.append(f"{self.name} seq {frame['seq']}")
            else:
                self.seen.append(frame["seq"])
        elif frame["type"] == "error" and frame.get("client_id") is None:
            self.error_frame_pending = True
        return frame

    async def say(self, body: str) -> Sent:
        """Send one message and return once it is acked, whatever happens meanwhile."""
        sent = Sent(f"{self.name}-{len(self.sent)}", body, time.monotonic())
        self.sent.append(sent)
        while sent.ack is None:
            _give_up_after(sent.sent_at, f"message {sent.client_id}")
            try:
                if self.connection is None:
                    await self._open()
                await self._send(
                    {
                        "type": "message",
                        "conversation_id": self.conversation_id,
                        "client_id": sent.client_id,
                        "body": body,
                    }
                )
                while sent.ack is None:
                    frame = await self._recv()
                    if frame["type"] == "ack" and frame["client_id"] == sent.client_id:
                        sent.ack = frame
                    elif frame["type"] == "error" and frame.get("client_id") == sent.client_id:
                        assert frame["code"] == "service_unavailable", frame
                        self.ledger.unavailable["message error frame"] += 1
                        await asyncio.sleep(RETRY_PAUSE_SECONDS)
                        break  # send the same client_id again
            except ConnectionClosed as exc:
                self.ledger.closed(exc, self.error_frame_pending)
                self.connection = None
        return sent

    async def leave(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.connection.close(), 5)
            self.connection = None


class Console:
    """The agent's console on one node, subscribed to a set of conversations."""

    def __init__(self, node: Node, ledger: Ledger, username: str) -> None:
        self.node = node
        self.ledger = ledger
        self.username = username
        self.watched: set[str] = set()
        self.seen: dict[str, list[int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connection: websockets.ClientConnection | None = None
        self._changes: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._inflight: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def watch(self, conversation_id: str) -> None:
        self.watched.add(conversation_id)
        self.seen.setdefault(conversation_id, [])
        self._changes.put_nowait(("subscribe", conversation_id))

    def unwatch(self, conversation_id: str) -> None:
        self.watched.discard(conversation_id)
        self._changes.put_nowait(("unsubscribe", conversation_id))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), 5)

    async def _subscribe(self, conversation_id: str) -> None:
        """Subscribe from the last seq seen; once at a time per conversation (a second
        subscribe sent before the first one's backlog arrived would ask for it twice)."""
        assert self._connection is not None
        if conversation_id in self._inflight:
            return
        self._inflight.add(conversation_id)
        seen = self.seen[conversation_id]
        frame = {
            "type": "subscribe",
            "conversation_id": conversation_id,
            "since": seen[-1] if seen else 0,
            "client_id": f"sub:{conversation_id}",  # echoed in an error frame
        }
        await self._connection.send(json.dumps(frame))

    async def _run(self) -> None:
        token = await login(self.ledger, self.node, self.username)
        url = f"{self.node.ws_url}/api/v1/ws/console"
        while True:
            self._connection = await _connect(url, self.ledger, "console", token)
            self._inflight = set()
            while not self._changes.empty():  # everything watched is subscribed below
                self._changes.get_nowait()
            error_frame = False
            try:
                for conversation_id in sorted(self.watched):
                    await self._subscribe(conversation_id)
                while True:
                    await self._pump_changes()
                    try:
                        raw = await asyncio.wait_for(self._connection.recv(), 0.1)
                    except TimeoutError:
                        continue
                    frame = json.loads(raw)
                    if frame["type"] == "message":
                        self._record(frame)
                    elif frame["type"] == "subscribed":
                        self._inflight.discard(frame["conversation_id"])
                    elif frame["type"] == "error":
                        assert frame.get("code") == "service_unavailable", frame
                        self.ledger.unavailable["console error frame"] += 1
                        client_id = frame.get("client_id") or ""
                        if not client_id.startswith("sub:"):
                            error_frame = True  # the socket is about to close
                            continue
                        # A subscribe refused during an outage: ask again shortly.
                        conversation_id = client_id[len("sub:") :]
                        self._inflight.discard(conversation_id)
                        await asyncio.sleep(RETRY_PAUSE_SECONDS)
                        if conversation_id in self.watched:
                            await self._subscribe(conversation_id)
            except ConnectionClosed as exc:
                self.ledger.closed(exc, error_frame)

    async def _pump_changes(self) -> None:
        assert self._connection is not None
        while not self._changes.empty():
            action, conversation_id = self._changes.get_nowait()
            if action == "subscribe":
                await self._subscribe(conversation_id)
            else:
                frame = {"type": "unsubscribe", "conversation_id": conversation_id}
                await self._connection.send(json.dumps(frame))

    def _record(self, frame: dict[str, Any]) -> None:
        conversation_id = frame["conversation_id"]
        seen = self.seen.setdefault(conversation_id, [])
        if seen and frame["seq"] <= seen[-1]:
            self.ledger.duplicates.append(f"console {self.node.name} {conversation_id} {frame}")
            return
        seen.append(frame["seq"])

    async def caught_up(self, last_seqs: dict[str, int], timeout_seconds: float) -> bool:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if all((self.seen.get(c) or [0])[-1] >= s for c, s in last_seqs.items()):
                return True
            await asyncio.sleep(0.005)
        return False
