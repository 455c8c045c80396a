"""The message path across two app nodes sharing PostgreSQL and Redis, against one node.

Value: messages/s at saturation (as in ``message_saturation``) with the visitors' sockets on
node A and the agent's console socket on node B, so every message crosses Redis. Baseline:
one node on the same PostgreSQL (in-process broker), same visitors, same run. Both nodes, the
load generator, PostgreSQL and Redis share this machine's cores: adding a node cannot add
CPU here, so the ratio measures what the cross-node hop costs, not how far Confide scales.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import loadgen
from benchmarks.common import Result, sized
from benchmarks.loadgen import Target
from benchmarks.servers import (
    LIMITS_NOTE,
    REDIS_URL,
    bench_settings,
    confide_server,
    confide_target,
    populate,
    postgres_databases,
)

GOAL_RATIO = 0.8


async def run(quick: bool = False) -> Result:
    visitors = sized(1000, 100, quick)
    seconds, warmup_seconds = sized(10, 6, quick), sized(2, 1, quick)
    with tempfile.TemporaryDirectory() as tmp:
        async with postgres_databases("data", "keys") as (data_url, keys_url):
            one_node = bench_settings(Path(tmp), database_url=data_url, keystore_url=keys_url)
            population = await populate(one_node, visitors)
            with confide_server(one_node) as server:
                target = await confide_target(server, population)
                single = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
            cluster = one_node.with_overrides(redis_url=REDIS_URL)
            with confide_server(cluster) as node_a, confide_server(cluster) as node_b:
                target = Target(
                    node_a.visitor_urls(population.visitor_tokens),
                    await node_b.agent_console_url(),
                    population.conversation_ids,
                    [node_a.pid, node_b.pid],
                )
                pair = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
    value, baseline = pair["messages_per_second"], single["messages_per_second"]
    ratio = value / baseline
    return Result(
        name="multi_node",
        value=round(value, 1),
        unit="messages/s",
        baseline=round(baseline, 1),
        baseline_name="one node on the same PostgreSQL, in-process broker, same run",
        ratio=round(ratio, 3),
        goal=f"at least {GOAL_RATIO}x one node on this shared 2-core machine, nothing lost",
        goal_met=(
            ratio >= GOAL_RATIO and pair["lost"] == 0 and not pair["sockets_closed_by_server"]
        ),
        notes=(
            f"{visitors} visitors on node A, the agent on node B, back to back for {seconds} s; "
            f"server CPU per message {pair['server_cpu_ms_per_message']:.2f} ms on two nodes, "
            f"{single['server_cpu_ms_per_message']:.2f} ms on one; PostgreSQL + Redis; "
            f"{LIMITS_NOTE}"
        ),
        details={"two_nodes": pair, "one_node": single, "visitors": visitors},
    )
