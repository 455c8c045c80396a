"""Message path under steady load, over real sockets on loopback.

Value: p99 latency from a visitor's send to the agent's receipt (both sockets in the load
generator's process, one clock) with every visitor sending one message per second at a random
phase. A visitor waits for each ack before its next send, so a server that falls behind holds
visitors back: how late they sent and how many sends never happened are reported too.
Confide runs as ``confide serve`` on SQLite. Baseline: the bare relay (``benchmarks/relay.py``)
under the same load, same run. Lost messages are counted: sent but never delivered.
"""

from __future__ import annotations

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

GOAL_P99_MS = 50.0  # issue 15


async def run(quick: bool = False) -> Result:
    visitors = sized(1000, 100, quick)
    seconds = sized(30, 8, quick)
    settings, population = await shared_sqlite_population(visitors)
    with confide_server(settings) as server:
        target = await confide_target(server, population)
        confide = loadgen.run_in_process(loadgen.steady, target, seconds)
    with relay_server(f"sqlite+aiosqlite:///{settings.data_dir}/relay.db") as relay:
        base = loadgen.run_in_process(loadgen.steady, relay_target(relay, visitors), seconds)
    value, baseline = confide["p99_ms"], base["p99_ms"]
    return Result(
        name="message_steady",
        value=round(value, 1),
        unit="ms p99",
        baseline=round(baseline, 1),
        baseline_name="bare ASGI WebSocket relay, same load, same run (p99)",
        ratio=round(value / baseline, 2) if baseline else 0.0,
        goal=f"p99 under {GOAL_P99_MS:g} ms, nothing lost, nothing never sent",
        goal_met=value < GOAL_P99_MS and confide["lost"] == 0 and confide["unsent"] == 0,
        notes=(
            f"{visitors} visitors x 1 message/s, random phase, {seconds} s; "
            f"p50 {confide['p50_ms']:.1f} ms (relay {base['p50_ms']:.1f} ms); "
            f"lost {confide['lost']} of {confide['sent']} sent, {confide['unsent']} never sent "
            f"(visitors held back by slow acks; sends up to {confide['sent_late_p99_ms']:.0f} ms "
            "late at p99); ratio is latency, lower is better; "
            f"SQLite; {LIMITS_NOTE}"
        ),
        details={"confide": confide, "relay": base, "visitors": visitors},
    )
