"""Message path at saturation, over real sockets on loopback.

Value: messages/s end to end (a visitor's frame -> ``do_send_message`` -> committed -> the
agent's console socket) with every visitor sending back to back and waiting for each ack.
Confide runs as ``confide serve`` on SQLite; the load generator (visitor sockets and the
agent's console socket) runs in its own process. Baseline: the bare relay
(``benchmarks/relay.py``: same insert, same driver, no Confide logic), same machine, same run,
same load generator.
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

GOAL_RATIO = 0.5


async def run(quick: bool = False) -> Result:
    visitors = sized(1000, 100, quick)
    seconds, warmup_seconds = sized(10, 6, quick), sized(2, 1, quick)
    settings, population = await shared_sqlite_population(visitors)
    with confide_server(settings) as server:
        target = await confide_target(server, population)
        confide = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
    with relay_server(f"sqlite+aiosqlite:///{settings.data_dir}/relay.db") as relay:
        target = relay_target(relay, visitors)
        base = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
    value, baseline = confide["messages_per_second"], base["messages_per_second"]
    ratio = value / baseline
    return Result(
        name="message_saturation",
        value=round(value, 1),
        unit="messages/s",
        baseline=round(baseline, 1),
        baseline_name="bare ASGI WebSocket relay, same insert and driver (SQLite), same run",
        ratio=round(ratio, 3),
        goal=f"at least {GOAL_RATIO}x the relay",
        goal_met=(
            ratio >= GOAL_RATIO and confide["lost"] == 0 and not confide["sockets_closed_by_server"]
        ),
        notes=(
            f"{visitors} visitors back to back for {seconds} s (first {warmup_seconds} s not "
            f"counted), one agent subscribed to every conversation; server CPU per message "
            f"{confide['server_cpu_ms_per_message']:.2f} ms (relay "
            f"{base['server_cpu_ms_per_message']:.2f} ms); SQLite; {LIMITS_NOTE}"
        ),
        details={"confide": confide, "relay": base, "visitors": visitors},
    )
