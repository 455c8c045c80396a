"""Idle visitor sockets on one node: memory per connection and the time of one broadcast.

Memory: the server's resident set size (``VmRSS``) after the agent's console socket is open,
then after every visitor's widget socket is open and subscribed to its own conversation (as
the real widget does); the difference divided by the number of sockets.

Broadcast: Confide has no event that goes to every visitor of a workspace; what reaches many
visitors at once is one event per conversation (an agent typing, an assignment, a status
change), each on its conversation's broker channel. The benchmark publishes one ``typing``
event per conversation through Redis, as a node's broker does, and measures the time until
every visitor socket has it. The node runs on SQLite with Redis as its broker, so the event
goes the way it goes in a cluster: Redis -> the node's one pub/sub connection -> each
subscribed socket.

Baseline: the bare relay holding the same number of sockets (its broadcast is one console
frame sent on to every visitor socket), same run, same load generator.
"""

from __future__ import annotations

from benchmarks import loadgen
from benchmarks.common import Result, sized
from benchmarks.servers import (
    LIMITS_NOTE,
    REDIS_URL,
    confide_server,
    confide_target,
    relay_server,
    relay_target,
    shared_sqlite_population,
)

GOAL_BYTES_PER_CONNECTION = 40 * 1024  # issue 15 (was 50 KiB, issue 6)
GOAL_BROADCAST_MS = 1000.0


async def run(quick: bool = False) -> list[Result]:
    visitors = sized(5000, 500, quick)
    # The same visitors as realistic_day when both run (populating 5,000 is slow, not measured).
    shared, population = await shared_sqlite_population(visitors)
    settings = shared.with_overrides(redis_url=REDIS_URL)
    with confide_server(settings) as server:
        target = await confide_target(server, population)
        confide = loadgen.run_in_process(loadgen.connections, target, server.pid, REDIS_URL)
    with relay_server(f"sqlite+aiosqlite:///{settings.data_dir}/relay.db") as relay:
        target = relay_target(relay, visitors)
        base = loadgen.run_in_process(loadgen.connections, target, relay.pid, None)
    kib, base_kib = confide["bytes_per_connection"] / 1024, base["bytes_per_connection"] / 1024
    ms, base_ms = confide["broadcast_ms"], base["broadcast_ms"]
    details = {"confide": confide, "relay": base, "visitors": visitors}
    common = f"{visitors} idle visitor sockets on one node (SQLite, Redis broker); {LIMITS_NOTE}"
    return [
        Result(
            name="connections_memory",
            value=round(kib, 1),
            unit="KiB/connection",
            baseline=round(base_kib, 1),
            baseline_name="bare ASGI WebSocket relay holding the same sockets, same run",
            ratio=round(kib / base_kib, 2) if base_kib > 0 else 0.0,
            goal=f"under {GOAL_BYTES_PER_CONNECTION // 1024} KiB per connection",
            goal_met=confide["bytes_per_connection"] < GOAL_BYTES_PER_CONNECTION,
            notes=f"server RSS delta / sockets; ratio: lower is better; {common}",
            details=details,
        ),
        Result(
            name="connections_broadcast",
            value=round(ms, 1),
            unit="ms to reach all",
            baseline=round(base_ms, 1),
            baseline_name="bare relay: one frame sent on to every socket, same run",
            ratio=round(ms / base_ms, 2) if base_ms > 0 else 0.0,
            goal=f"under {GOAL_BROADCAST_MS:g} ms (our goal; issue #6 sets none)",
            goal_met=ms < GOAL_BROADCAST_MS,
            notes=(
                "one typing event per conversation published through Redis, until every "
                f"visitor has it; ratio: lower is better; {common}"
            ),
            details=details,
        ),
    ]
