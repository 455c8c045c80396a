"""The load generator: visitor and agent sockets in a process of their own.

It speaks the same frames to Confide (``/api/v1/ws/widget``, ``/api/v1/ws/console``) and to
the relay (``/visitor``, ``/console``), so both are driven by the same code. The agent's
console socket lives in this process too: send and receipt times come from one clock
(``time.perf_counter``). Run through :func:`run_in_process`, which starts a fresh process
(``spawn``) so the generator never shares an interpreter with the driver.
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
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

CONNECT_CONCURRENCY = 100
DRAIN_SECONDS = 15.0
LATE_GRACE_SECONDS = 5.0
# A socket's URL and the token it offers as a subprotocol (None: the relay, which needs none).
SocketAddress = tuple[str, str | None]
BODY = "Hello, I ordered a blue jacket last week and it has not arrived yet; can you check? "


@dataclass
class Target:
    """Where the sockets go. ``conversation_ids`` is one per visitor (empty for the relay)."""

    visitor_urls: list[SocketAddress]
    console_url: SocketAddress
    conversation_ids: list[str] = field(default_factory=list)
    # Server processes whose CPU time is counted per message (robust on a shared machine).
    server_pids: list[int] = field(default_factory=list)

    @property
    def is_confide(self) -> bool:
        return bool(self.conversation_ids)

    def conversation(self, index: int) -> str:
        return self.conversation_ids[index] if self.conversation_ids else ""


def run_in_process(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


async def _open(urls: list[SocketAddress]) -> list[ClientConnection]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(address: SocketAddress) -> ClientConnection:
        url, token = address
        offered = [Subprotocol("confide.v1"), Subprotocol(f"confide.token.{token}")]
        async with gate:
            # No compression and no keepalive pings: both sides are measured the same way.
            return await connect(
                url,
                subprotocols=offered if token else None,
                compression=None,
                ping_interval=None,
                max_queue=None,
                open_timeout=60,
            )

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def _until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") == kind:
            return dict(frame)
        if frame.get("type") == "error":
            raise RuntimeError(f"server error: {frame}")


async def _subscribe_all(ws: ClientConnection, conversation_ids: list[str]) -> None:
    """An agent (or visitor) opening its conversations; setup, not timed."""
    for start in range(0, len(conversation_ids), 50):
        chunk = conversation_ids[start : start + 50]
        for conversation_id in chunk:
            await ws.send(json.dumps({"type": "subscribe", "conversation_id": conversation_id}))
        for _ in chunk:
            await _until(ws, "subscribed")


class _Agent:
    """Reads the console socket and notes when each message arrived."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame.get("type") == "message":
                self.received.setdefault(str(frame["client_id"]), time.perf_counter())
                self.arrived.set()

    async def drain(self, expected: set[str]) -> None:
        deadline = time.perf_counter() + DRAIN_SECONDS
        while not expected <= self.received.keys():
            self.arrived.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)


async def _setup(target: Target) -> tuple[list[ClientConnection], ClientConnection]:
    console = (await _open([target.console_url]))[0]
    if target.is_confide:
        await _until(console, "ready")
        await _subscribe_all(console, target.conversation_ids)
    visitors = await _open(target.visitor_urls)
    if target.is_confide:
        await asyncio.gather(*(_until(ws, "ready") for ws in visitors))

    async def warm(index: int, ws: ClientConnection) -> None:
        # One message per conversation first: its data key is created (or loaded into the
        # node's cache) before anything is timed, whichever run comes first.
        await ws.send(_frame(target, index, f"warm-{uuid.uuid4().hex[:8]}"))
        await _until(ws, "ack")

    await asyncio.gather(*(warm(i, ws) for i, ws in enumerate(visitors)))
    return visitors, console


def _frame(target: Target, index: int, client_id: str) -> str:
    return json.dumps(
        {
            "type": "message",
            "conversation_id": target.conversation(index),
            "client_id": client_id,
            "body": f"{BODY}({client_id})",
        }
    )


async def _close(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# -- saturation ---------------------------------------------------------------------------


async def _saturation(target: Target, seconds: float, warmup_seconds: float) -> dict[str, Any]:
    visitors, console = await _setup(target)
    agent = _Agent(console)
    sent: dict[str, float] = {}
    errors = 0
    closed: list[int] = []
    run = uuid.uuid4().hex[:6]  # client ids stay unique when a benchmark reuses conversations
    started = time.perf_counter()
    stop_at = started + seconds

    async def visitor(index: int, ws: ClientConnection) -> None:
        nonlocal errors
        n = 0
        while time.perf_counter() < stop_at:
            client_id = f"s{run}-{index}-{n}"
            sent[client_id] = time.perf_counter()
            try:
                await ws.send(_frame(target, index, client_id))
                await _until(ws, "ack")
            except RuntimeError:
                errors += 1
            except ConnectionClosed:
                closed.append(index)  # the server ended this visitor's socket
                return
            n += 1

    cpu_task = asyncio.create_task(_cpu_in_window(target, warmup_seconds, seconds))
    await asyncio.gather(*(visitor(i, ws) for i, ws in enumerate(visitors)))
    cpu_seconds = await cpu_task
    await agent.drain(set(sent))
    window_start = started + warmup_seconds
    in_window = [t for t in agent.received.values() if window_start <= t <= stop_at]
    agent.task.cancel()
    await _close([*visitors, console])
    return {
        "server_cpu_ms_per_message": 1000 * cpu_seconds / max(1, len(in_window)),
        "sent": len(sent),
        "delivered": len(agent.received),
        "lost": len(set(sent) - agent.received.keys()),
        "errors": errors,
        "sockets_closed_by_server": len(closed),
        "messages_per_second": len(in_window) / (stop_at - window_start),
    }


async def _cpu_in_window(target: Target, warmup_seconds: float, seconds: float) -> float:
    await asyncio.sleep(warmup_seconds)
    before = _cpu_seconds(target.server_pids)
    await asyncio.sleep(seconds - warmup_seconds)
    return _cpu_seconds(target.server_pids) - before


def saturation(target: Target, seconds: float, warmup_seconds: float) -> dict[str, Any]:
    """Every visitor sends back to back, each waiting for its ack; messages/s delivered to
    the agent after the warm-up."""
    return asyncio.run(_saturation(target, seconds, warmup_seconds))


# -- steady load ---------------------------------------------------------------------------


async def _steady(target: Target, seconds: float, rate_per_visitor: float) -> dict[str, Any]:
    visitors, console = await _setup(target)
    agent = _Agent(console)
    sent: dict[str, float] = {}
    errors = 0
    closed: list[int] = []
    run = uuid.uuid4().hex[:6]
    interval = 1.0 / rate_per_visitor
    started = time.perf_counter() + 0.5
    stop_at = started + seconds
    rng = random.Random(7)

    scheduled = 0
    behind_ms: list[float] = []

    async def visitor(index: int, ws: ClientConnection) -> None:
        nonlocal errors, scheduled
        due = started + rng.random() * interval
        scheduled += math.ceil((stop_at - due) / interval)
        n = 0
        # A visitor waits for each ack; when the server falls behind, later sends go out late
        # (counted in behind_ms) and those due after the end + grace are never sent (unsent).
        while due < stop_at and time.perf_counter() < stop_at + LATE_GRACE_SECONDS:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            client_id = f"t{run}-{index}-{n}"
            sent[client_id] = time.perf_counter()
            behind_ms.append((sent[client_id] - due) * 1000)
            try:
                await ws.send(_frame(target, index, client_id))
                await _until(ws, "ack")
            except RuntimeError:
                errors += 1
            except ConnectionClosed:
                closed.append(index)
                return
            n += 1
            due += interval

    await asyncio.gather(*(visitor(i, ws) for i, ws in enumerate(visitors)))
    await agent.drain(set(sent))
    latencies_ms = sorted(
        (agent.received[c] - t) * 1000 for c, t in sent.items() if c in agent.received
    )
    agent.task.cancel()
    await _close([*visitors, console])
    quantiles = statistics.quantiles(latencies_ms, n=100) if len(latencies_ms) > 1 else [0.0] * 99
    return {
        "sent": len(sent),
        "delivered": len(latencies_ms),
        "lost": len(sent) - len(latencies_ms),
        "errors": errors,
        "sockets_closed_by_server": len(closed),
        "unsent": scheduled - len(sent),
        "sent_late_p99_ms": _p99(behind_ms),
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
        "max_ms": latencies_ms[-1] if latencies_ms else 0.0,
    }


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else 0.0


def steady(target: Target, seconds: float, rate_per_visitor: float = 1.0) -> dict[str, Any]:
    """Each visitor sends ``rate_per_visitor`` messages/s at a random phase; latency from send
    to the agent's receipt."""
    return asyncio.run(_steady(target, seconds, rate_per_visitor))


# -- idle connections and broadcast ---------------------------------------------------------


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _trigger_redis(redis_url: str, conversation_ids: list[str]) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    async with client.pipeline(transaction=False) as pipe:
        for conversation_id in conversation_ids:
            event = {
                "type": "typing",
                "conversation_id": conversation_id,
                "author": {"kind": "operator", "id": "bench"},
                "state": True,
            }
            pipe.publish(f"confide:conv:{conversation_id}", json.dumps(event))
        await pipe.execute()
    await client.aclose()


async def _connections(target: Target, server_pid: int, redis_url: str | None) -> dict[str, Any]:
    console = (await _open([target.console_url]))[0]
    await asyncio.sleep(1.0)
    rss_before = _rss_bytes(server_pid)
    visitors = await _open(target.visitor_urls)
    if target.is_confide:
        await asyncio.gather(*(_until(ws, "ready") for ws in visitors))
        # Each widget follows its own conversation, as the real widget does.
        await asyncio.gather(
            *(_subscribe_all(ws, [target.conversation(i)]) for i, ws in enumerate(visitors))
        )
    await asyncio.sleep(2.0)
    rss_after = _rss_bytes(server_pid)
    expected = "typing" if target.is_confide else "broadcast"
    waits = [asyncio.create_task(_until(ws, expected)) for ws in visitors]
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    if target.is_confide:
        assert redis_url is not None
        await _trigger_redis(redis_url, target.conversation_ids)
    else:
        await console.send(json.dumps({"type": "broadcast"}))
    await asyncio.wait_for(asyncio.gather(*waits), timeout=120)
    broadcast_ms = (time.perf_counter() - started) * 1000
    await _close([*visitors, console])
    return {
        "connections": len(visitors),
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "bytes_per_connection": (rss_after - rss_before) / len(visitors),
        "broadcast_ms": broadcast_ms,
    }


def connections(target: Target, server_pid: int, redis_url: str | None) -> dict[str, Any]:
    """Open every visitor socket, read the server's RSS before and after, then time one event
    reaching all of them."""
    return asyncio.run(_connections(target, server_pid, redis_url))
