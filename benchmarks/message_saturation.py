"""Message path at saturation, over real sockets on loopback.

Value: messages/s end to end (a visitor's frame -> ``do_send_message`` -> committed -> the
agent's console socket) with every visitor sending back to back and waiting for each ack.
Confide runs as ``confide serve`` on SQLite; the load generator (visitor sockets and the
agent's console socket) runs in its own process. Baselines, same machine, same run, same load
generator: the bare relay (``benchmarks/relay.py``: same insert, same driver, one transaction
per message, no Confide logic) and the *limit* relay (``--group-commit``: every frame of one
loop turn in one transaction on the loop thread). Confide also runs with group commit off
(``CONFIDE_SQLITE_GROUP_COMMIT_MAX_UNITS=1``, one transaction per unit of work as before issue
15), so the effect of group commit is measured in the same run. With
``CONFIDE_BENCH_BEFORE_TREE=/path/to/checkout`` it also runs that checkout's Confide (the code
before a change) on the same database and load.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks import loadgen
from benchmarks.common import Result, sized
from benchmarks.servers import (
    LIMITS_NOTE,
    confide_server,
    confide_target,
    relay_server,
    relay_target,
    shared_sqlite_population,
)

GOAL_RATIO = 1.0  # of the per-message relay
GOAL_LIMIT_RATIO = 0.25  # of the group-commit relay
GOAL_CPU_MS = 0.5


async def run(quick: bool = False) -> Result:
    visitors = sized(1000, 100, quick)
    seconds, warmup_seconds = sized(10, 6, quick), sized(2, 1, quick)
    settings, population = await shared_sqlite_population(visitors)
    runs = {}
    before = os.environ.get("CONFIDE_BENCH_BEFORE_TREE")
    variants: list[tuple[str, Path | None, dict[str, str]]] = [
        ("confide", None, {}),
        ("confide_one_transaction_per_unit", None, {"CONFIDE_SQLITE_GROUP_COMMIT_MAX_UNITS": "1"}),
    ]
    if before:
        variants.append(("confide_before", Path(before), {}))
    for name, tree, env in variants:
        with confide_server(settings, tree=tree, **env) as server:
            target = await confide_target(server, population)
            runs[name] = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
    for name, grouped in (("relay", False), ("relay_group_commit", True)):
        url = f"sqlite+aiosqlite:///{settings.data_dir}/{name}.db"
        with relay_server(url, group_commit=grouped) as relay:
            target = relay_target(relay, visitors)
            runs[name] = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
    confide, base, limit = runs["confide"], runs["relay"], runs["relay_group_commit"]
    off = runs["confide_one_transaction_per_unit"]
    value, baseline = confide["messages_per_second"], base["messages_per_second"]
    ratio = value / baseline
    limit_ratio = value / limit["messages_per_second"]
    cpu_ms = confide["server_cpu_ms_per_message"]
    return Result(
        name="message_saturation",
        value=round(value, 1),
        unit="messages/s",
        baseline=round(baseline, 1),
        baseline_name="bare ASGI WebSocket relay, same insert and driver (SQLite), same run",
        ratio=round(ratio, 3),
        goal=(
            f"at least {GOAL_RATIO}x the relay and {GOAL_LIMIT_RATIO}x the group-commit "
            f"relay; server CPU under {GOAL_CPU_MS} ms per message"
        ),
        goal_met=(
            ratio >= GOAL_RATIO
            and limit_ratio >= GOAL_LIMIT_RATIO
            and cpu_ms < GOAL_CPU_MS
            and confide["lost"] == 0
            and not confide["sockets_closed_by_server"]
        ),
        notes=(
            f"{visitors} visitors back to back for {seconds} s (first {warmup_seconds} s not "
            f"counted), one agent subscribed to every conversation; group-commit relay "
            f"{limit['messages_per_second']:.0f} messages/s (ratio {limit_ratio:.3f}x); "
            f"Confide with group commit off {off['messages_per_second']:.0f} messages/s; "
            + (
                f"the code before (CONFIDE_BENCH_BEFORE_TREE) "
                f"{runs['confide_before']['messages_per_second']:.0f} messages/s at "
                f"{runs['confide_before']['server_cpu_ms_per_message']:.2f} ms CPU; "
                if before
                else ""
            )
            + f"server CPU per message {cpu_ms:.2f} ms (group commit off "
            f"{off['server_cpu_ms_per_message']:.2f} ms, relay "
            f"{base['server_cpu_ms_per_message']:.2f} ms, group-commit relay "
            f"{limit['server_cpu_ms_per_message']:.2f} ms); SQLite; {LIMITS_NOTE}"
        ),
        details={
            **runs,
            "limit_ratio": round(limit_ratio, 3),
            "visitors": visitors,
        },
    )
