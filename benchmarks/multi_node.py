"""The message path across two and four app nodes sharing PostgreSQL and Redis, against one.

Value (``multi_node``): messages/s at saturation (as in ``message_saturation``) with the
visitors' sockets on node A and the agent's console socket on node B, so every message crosses
Redis. ``multi_node_4``: four nodes, the visitors spread over the first three and the agent on
the fourth. Baseline: one node on the same PostgreSQL (in-process broker), same visitors, same
run. With ``CONFIDE_BENCH_BEFORE_TREE=/path/to/checkout`` one node of that checkout's code (the
code before a change) also runs on the same database and load. The nodes, the load generator,
PostgreSQL and Redis share this machine's cores: adding a node cannot add CPU here, so the
ratios measure what the cross-node hop and the extra processes cost, not how far Confide
scales (the capacity table in docs/operations.md derives per-core figures from the server CPU
per message).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import loadgen
from benchmarks.common import Result, sized
from benchmarks.loadgen import Target
from benchmarks.servers import (
    LIMITS_NOTE,
    REDIS_URL,
    Population,
    bench_settings,
    confide_server,
    confide_target,
    populate,
    postgres_databases,
)
from confide.core.config import Settings

GOAL_RATIO = 0.8


# Four nodes with the default pools (10 + 20 overflow, for the data and again for the key
# store: up to 60 connections a node) can exceed PostgreSQL's default max_connections (100);
# each of them gets 5 + 5 instead (40 a node at most), as docs/operations.md advises.
FOUR_NODE_POOLS = {"CONFIDE_DB_POOL_SIZE": "5", "CONFIDE_DB_MAX_OVERFLOW": "5"}

# A cluster run that failed (recorded, so the other results are kept).
_FAILED: dict[str, Any] = {
    "server_cpu_ms_per_message": 0.0,
    "sent": 0,
    "delivered": 0,
    "lost": 0,
    "errors": 1,
    "sockets_closed_by_server": 0,
    "messages_per_second": 0.0,
}


async def _cluster(
    settings: Settings,
    nodes: int,
    population: Population,
    seconds: int,
    warmup_seconds: int,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Saturation with the visitors spread over the first ``nodes - 1`` nodes, the agent on
    the last one; ``env``: settings for every node (``CONFIDE_...``)."""
    with ExitStack() as stack:
        servers = [
            stack.enter_context(confide_server(settings, **(env or {}))) for _ in range(nodes)
        ]
        visitor_nodes = servers[:-1]
        urls = [
            visitor_nodes[i % len(visitor_nodes)].visitor_urls([token])[0]
            for i, token in enumerate(population.visitor_tokens)
        ]
        target = Target(
            urls,
            await servers[-1].agent_console_url(),
            population.conversation_ids,
            [server.pid for server in servers],
        )
        return loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)


async def run(quick: bool = False) -> list[Result]:
    visitors = sized(1000, 100, quick)
    seconds, warmup_seconds = sized(10, 6, quick), sized(2, 1, quick)
    with tempfile.TemporaryDirectory() as tmp:
        async with postgres_databases("data", "keys") as (data_url, keys_url):
            one_node = bench_settings(Path(tmp), database_url=data_url, keystore_url=keys_url)
            population = await populate(one_node, visitors)
            with confide_server(one_node) as server:
                target = await confide_target(server, population)
                single = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
            before = None
            if os.environ.get("CONFIDE_BENCH_BEFORE_TREE"):
                tree = Path(os.environ["CONFIDE_BENCH_BEFORE_TREE"])
                with confide_server(one_node, tree=tree) as server:
                    target = await confide_target(server, population)
                    before = loadgen.run_in_process(
                        loadgen.saturation, target, seconds, warmup_seconds
                    )
            cluster = one_node.with_overrides(redis_url=REDIS_URL)
            pair = await _cluster(cluster, 2, population, seconds, warmup_seconds)
            try:
                four = await _cluster(
                    cluster, 4, population, seconds, warmup_seconds, env=FOUR_NODE_POOLS
                )
            except Exception as exc:  # recorded: the two-node result must not be lost with it
                four = {**_FAILED, "error": f"{type(exc).__name__}: {exc}"[:300]}
    details = {"two_nodes": pair, "one_node": single, "four_nodes": four, "visitors": visitors}
    baseline = single["messages_per_second"]
    cpu = (
        f"server CPU per message {pair['server_cpu_ms_per_message']:.2f} ms on two nodes, "
        f"{four['server_cpu_ms_per_message']:.2f} ms on four, "
        f"{single['server_cpu_ms_per_message']:.2f} ms on one; "
    )
    if before is not None:
        details["one_node_before"] = before
        cpu += (
            f"one node of the code before (CONFIDE_BENCH_BEFORE_TREE) "
            f"{before['messages_per_second']:.0f} messages/s at "
            f"{before['server_cpu_ms_per_message']:.2f} ms; "
        )
    cpu += f"PostgreSQL + Redis; {LIMITS_NOTE}"
    ratio, ratio_4 = pair["messages_per_second"] / baseline, four["messages_per_second"] / baseline
    return [
        Result(
            name="multi_node",
            value=round(pair["messages_per_second"], 1),
            unit="messages/s",
            baseline=round(baseline, 1),
            baseline_name="one node on the same PostgreSQL, in-process broker, same run",
            ratio=round(ratio, 3),
            goal=f"at least {GOAL_RATIO}x one node on this shared 2-core machine, nothing lost",
            goal_met=(
                ratio >= GOAL_RATIO and pair["lost"] == 0 and not pair["sockets_closed_by_server"]
            ),
            notes=(
                f"{visitors} visitors on node A, the agent on node B, back to back for "
                f"{seconds} s; {cpu}"
            ),
            details=details,
        ),
        Result(
            name="multi_node_4",
            value=round(four["messages_per_second"], 1),
            unit="messages/s",
            baseline=round(baseline, 1),
            baseline_name="one node on the same PostgreSQL, in-process broker, same run",
            ratio=round(ratio_4, 3),
            goal="nothing lost (4 nodes on 2 shared cores measure overhead, not scaling)",
            goal_met=(
                "error" not in four and four["lost"] == 0 and not four["sockets_closed_by_server"]
            ),
            notes=(
                f"{visitors} visitors spread over three nodes, the agent on a fourth, back to "
                f"back for {seconds} s; each node with pools of 5 + 5 PostgreSQL connections "
                f"(data and key store); {cpu}"
            ),
            details=details,
        ),
    ]
