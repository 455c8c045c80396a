"""The load of ``realistic_day``, in the load generator's process (see ``benchmarks.loadgen``).

Every visitor socket is open (and, on Confide, follows its own conversation, as the widget
does); the first ``chatting`` visitors send one message every ``interval_seconds`` at a random
phase, each waiting for its ack; each agent's console follows its own conversations and
answers every visitor message as soon as it arrives. Send and receipt times come from one
clock (``time.perf_counter``), both ways: visitor -> agent and agent -> visitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from benchmarks.loadgen import BODY, DRAIN_SECONDS, SocketAddress, _close, _cpu_seconds, _open

WARM_UP_SECONDS = 120.0
REPLY = "Thank you for waiting; I can see the parcel left our warehouse on Monday. "


@dataclass
class DayTarget:
    """``conversations[i]`` is visitor i's conversation (the relay: its key); ``agents[j]``
    follows ``conversations[k]`` for every k in ``agent_conversations[j]``."""

    visitor_urls: list[SocketAddress]
    conversations: list[str]
    agent_urls: list[SocketAddress]
    agent_conversations: list[list[int]]
    server_pids: list[int]
    is_confide: bool


def _quantiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50_ms": values[0] if values else 0.0, "p99_ms": values[0] if values else 0.0}
    q = statistics.quantiles(values, n=100)
    return {"p50_ms": q[49], "p99_ms": q[98], "max_ms": max(values)}


def _frame(conversation: str, client_id: str, body: str) -> str:
    message = {"type": "message", "conversation_id": conversation, "client_id": client_id}
    return json.dumps({**message, "body": f"{body}({client_id})"})


async def _first(ws: ClientConnection, kind: str) -> None:
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") == kind:
            return
        if frame.get("type") == "error":
            raise RuntimeError(f"server error: {frame}")


async def _follow(ws: ClientConnection, conversations: list[str], is_confide: bool) -> None:
    if is_confide:
        await _first(ws, "ready")
    for conversation in conversations:
        await ws.send(json.dumps({"type": "subscribe", "conversation_id": conversation}))
    for _ in conversations:
        await _first(ws, "subscribed")


async def _day(target: DayTarget, chatting: int, seconds: float, interval: float) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    agents = await _open(target.agent_urls)
    await asyncio.gather(
        *(
            _follow(ws, [target.conversations[k] for k in ks], target.is_confide)
            for ws, ks in zip(agents, target.agent_conversations, strict=True)
        )
    )
    visitors = await _open(target.visitor_urls)
    if target.is_confide:  # the widget follows its own conversation
        await asyncio.gather(
            *(_follow(ws, [target.conversations[i]], True) for i, ws in enumerate(visitors))
        )

    sent: dict[str, float] = {}  # visitor message -> sent at
    received: dict[str, float] = {}  # visitor message -> the agent had it at
    replied: dict[str, float] = {}  # agent reply -> sent at
    answered: dict[str, float] = {}  # agent reply -> the visitor had it at
    acks: dict[str, asyncio.Future[None]] = {}
    errors: list[dict[str, Any]] = []
    closed: list[str] = []
    conversation_of: dict[str, str] = {}  # visitor message -> its conversation
    progress = asyncio.Event()  # set on every receipt
    warm_answered: set[str] = set()  # warm-up replies the visitors have had
    warm_done = asyncio.Event()

    async def agent_reader(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                kind, client_id = frame.get("type"), str(frame.get("client_id", ""))
                if kind == "error":
                    errors.append(frame)
                elif kind == "message" and client_id.startswith(f"w{run}"):
                    # Warm-up: answered, not timed (the agent's first send in a conversation).
                    reply = _frame(conversation_of[client_id], "x" + client_id[1:], REPLY)
                    await ws.send(reply)
                elif kind == "message" and client_id.startswith(f"v{run}"):
                    if client_id in received:
                        continue
                    received[client_id] = time.perf_counter()
                    progress.set()
                    reply_id = "a" + client_id[1:]
                    conversation = conversation_of[client_id]
                    replied[reply_id] = time.perf_counter()
                    await ws.send(_frame(conversation, reply_id, REPLY))

    async def visitor_reader(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                kind, client_id = frame.get("type"), str(frame.get("client_id", ""))
                if kind == "ack" and client_id in acks and not acks[client_id].done():
                    acks[client_id].set_result(None)
                elif kind == "error":
                    errors.append(frame)
                    if client_id in acks and not acks[client_id].done():
                        acks[client_id].set_result(None)
                elif kind == "message" and client_id.startswith(f"a{run}"):
                    answered.setdefault(client_id, time.perf_counter())
                    progress.set()
                elif kind == "message" and client_id.startswith(f"x{run}"):
                    warm_answered.add(client_id)
                    if len(warm_answered) >= chatting:
                        warm_done.set()

    readers = [asyncio.create_task(agent_reader(ws)) for ws in agents]
    readers += [asyncio.create_task(visitor_reader(ws)) for ws in visitors[:chatting]]

    async def warm(index: int, ws: ClientConnection) -> None:
        # One message per conversation first, answered: its data key is created (or loaded
        # into the node's cache) before anything is timed, as in the other socket benchmarks.
        client_id = f"w{run}-{index}"
        conversation_of[client_id] = target.conversations[index]
        acks[client_id] = asyncio.get_running_loop().create_future()
        await ws.send(_frame(target.conversations[index], client_id, BODY))
        await acks[client_id]

    await asyncio.gather(*(warm(i, ws) for i, ws in enumerate(visitors[:chatting])))
    # The warm-up ends when every agent's answer has reached its visitor: timing from the acks
    # alone started the day while the agents' warm-up answers still queued (the first second's
    # messages then waited behind 1,000 of them, and that was the whole p99).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(warm_done.wait(), WARM_UP_SECONDS)
    await asyncio.sleep(2.0)
    rng = random.Random(11)
    started = time.perf_counter() + 0.5
    stop_at = started + seconds
    scheduled = 0

    async def chat(index: int, ws: ClientConnection) -> None:
        nonlocal scheduled
        conversation = target.conversations[index]
        due = started + rng.random() * interval
        scheduled += max(0, math.ceil((stop_at - due) / interval))
        n = 0
        while due < stop_at and time.perf_counter() < stop_at + interval:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            client_id = f"v{run}-{index}-{n}"
            conversation_of[client_id] = conversation
            acks[client_id] = asyncio.get_running_loop().create_future()
            sent[client_id] = time.perf_counter()
            try:
                await ws.send(_frame(conversation, client_id, BODY))
                await acks[client_id]
            except ConnectionClosed:
                closed.append(str(index))
                return
            n += 1
            due += interval

    cpu_before, own_before = _cpu_seconds(target.server_pids), os.times()
    wall_before = time.perf_counter()
    await asyncio.gather(*(chat(i, ws) for i, ws in enumerate(visitors[:chatting])))
    wall = time.perf_counter() - wall_before
    server_cpu = _cpu_seconds(target.server_pids) - cpu_before
    own_after = os.times()
    own_cpu = (own_after.user - own_before.user) + (own_after.system - own_before.system)
    deadline = time.perf_counter() + DRAIN_SECONDS
    while time.perf_counter() < deadline and not (
        sent.keys() <= received.keys() and replied.keys() <= answered.keys()
    ):
        progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(progress.wait(), max(0.0, deadline - time.perf_counter()))
    for task in readers:
        task.cancel()
    await _close([*visitors, *agents])
    to_agent = [(received[c] - t) * 1000 for c, t in sent.items() if c in received]
    to_visitor = [(answered[c] - t) * 1000 for c, t in replied.items() if c in answered]
    return {
        "visitors": len(visitors),
        "chatting": chatting,
        "agents": len(agents),
        "sent": len(sent),
        "unsent": scheduled - len(sent),
        "lost_to_agent": len(sent) - len(to_agent),
        "replies": len(replied),
        "lost_to_visitor": len(replied) - len(to_visitor),
        "warm_up_answered": len(warm_answered),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "sockets_closed_by_server": len(closed),
        "to_agent": _quantiles(to_agent),
        "to_visitor": _quantiles(to_visitor),
        "messages_per_second": (len(sent) + len(replied)) / wall,
        "server_cpu_cores": server_cpu / wall,
        "loadgen_cpu_cores": own_cpu / wall,
        "seconds": wall,
    }


def day(target: DayTarget, chatting: int, seconds: float, interval: float) -> dict[str, Any]:
    """Run the day's load once; latencies in ms, CPU in cores used over the sending window."""
    return asyncio.run(_day(target, chatting, seconds, interval))
