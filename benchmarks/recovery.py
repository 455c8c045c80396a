"""Recovery after an outage: how long until a two-node cluster is whole again.

The cluster of the fault-injection tests (``tests/faults/cluster.py``: private Redis and
PostgreSQL on spare ports, two ``confide serve`` nodes). A visitor on node A chats; the agent's
console on node B follows the conversation, so every message crosses Redis.

- Redis: killed (SIGKILL) for ``REDIS_DOWN_SECONDS``, then restarted. Value: seconds from the
  restart to the first message that a probe sends after it and node B's console receives.
- PostgreSQL: stopped (fast shutdown) for ``POSTGRES_DOWN_SECONDS``, then started. Values:
  seconds from ``pg_ctl start`` returning to the first ack, and to the first cross-node
  delivery of a message sent after the start.

Baseline: the median cross-node delivery time (send to console receipt) of the same cluster
before the faults, same run. Recovery is reported, not asserted: the tests assert that nothing
is lost and nothing answers 500, whatever the timing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import Result, sized
from tests.faults.cluster import Cluster, private_cluster
from tests.faults.traffic import Console, Ledger, Visitor

REDIS_DOWN_SECONDS = 3.0
POSTGRES_DOWN_SECONDS = 5.0
GOAL_SECONDS = 5.0  # the reconnect backoff is capped at 5 s
PROBE_TIMEOUT_SECONDS = 0.25
GIVE_UP_SECONDS = 60.0


async def _cross_node_seconds(visitor: Visitor, console: Console, body: str) -> float:
    """Send one message on node A; seconds until node B's console has it (or -1)."""
    started = time.monotonic()
    sent = await visitor.say(body)
    assert sent.ack is not None
    seq, conversation = sent.ack["seq"], visitor.conversation_id
    if await console.caught_up({conversation: seq}, PROBE_TIMEOUT_SECONDS):
        return time.monotonic() - started
    return -1.0


async def _until_cross_node(visitor: Visitor, console: Console, since: float) -> float:
    """Probe until a message sent now reaches the other node; seconds since ``since``."""
    while time.monotonic() - since < GIVE_UP_SECONDS:
        if await _cross_node_seconds(visitor, console, "probe") >= 0:
            return time.monotonic() - since
    raise RuntimeError(f"no cross-node delivery {GIVE_UP_SECONDS} s after the service returned")


async def _measure(cluster: Cluster, samples: int) -> dict[str, float]:
    ledger = Ledger()
    node_a, node_b = cluster.nodes
    visitor = Visitor("v-probe", node_a, ledger, cluster.group_id)
    await visitor.join()
    console = Console(node_b, ledger, cluster.agent)
    console.watch(visitor.conversation_id)
    console.start()
    try:
        steady = [await _cross_node_seconds(visitor, console, "steady") for _ in range(samples)]
        steady = [s for s in steady if s >= 0] or [PROBE_TIMEOUT_SECONDS]

        cluster.redis.kill()
        await asyncio.sleep(REDIS_DOWN_SECONDS)
        cluster.redis.start()
        redis_back = time.monotonic()
        redis_cross_node = await _until_cross_node(visitor, console, redis_back)

        await asyncio.to_thread(cluster.postgres.stop)
        waiting = asyncio.create_task(visitor.say("sent while the database is down"))
        await asyncio.sleep(POSTGRES_DOWN_SECONDS)
        await asyncio.to_thread(cluster.postgres.start)
        postgres_back = time.monotonic()
        sent = await waiting
        assert sent.ack is not None
        first_ack = time.monotonic() - postgres_back
        postgres_cross_node = await _until_cross_node(visitor, console, postgres_back)
    finally:
        await console.stop()
        await visitor.leave()
    return {
        "steady_cross_node_p50_seconds": statistics.median(steady),
        "redis_first_cross_node_seconds": redis_cross_node,
        "postgres_first_ack_seconds": max(0.0, first_ack),
        "postgres_first_cross_node_seconds": postgres_cross_node,
        "server_errors": float(len(ledger.server_errors)),
        "closes_without_code": float(ledger.closes.get(None, 0)),
    }


async def run(quick: bool = False) -> list[Result]:
    samples = sized(50, 10, quick)
    with tempfile.TemporaryDirectory() as tmp:
        async with private_cluster(Path(tmp)) as cluster:
            measured = await _measure(cluster, samples)
    baseline = measured["steady_cross_node_p50_seconds"]
    clean = measured["server_errors"] == 0 and measured["closes_without_code"] == 0
    results = []
    for name, key, what in (
        ("recovery_redis", "redis_first_cross_node_seconds", "first cross-node delivery"),
        ("recovery_postgres_ack", "postgres_first_ack_seconds", "first ack"),
        ("recovery_postgres", "postgres_first_cross_node_seconds", "first cross-node delivery"),
    ):
        value = measured[key]
        results.append(
            Result(
                name=name,
                value=round(value, 3),
                unit="s",
                baseline=round(baseline, 4),
                baseline_name="median cross-node delivery before the faults, same run",
                ratio=round(value / baseline, 1),
                goal=f"{what} within {GOAL_SECONDS} s of the service returning, no 5xx, "
                "no socket closed without a code",
                goal_met=value <= GOAL_SECONDS and clean,
                notes=(
                    f"two nodes, private Redis (down {REDIS_DOWN_SECONDS} s, SIGKILL) and "
                    f"PostgreSQL (down {POSTGRES_DOWN_SECONDS} s, fast shutdown) on this "
                    "machine; times from the service accepting connections again; ratio: "
                    "lower is better; after Redis returns a node waits for its next reconnect "
                    "attempt (backoff 0.1 s doubling to 5 s)"
                ),
                details=measured,
            )
        )
    return results
