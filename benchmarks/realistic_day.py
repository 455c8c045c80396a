"""A realistic day on one node: many visitors connected, a fifth of them chatting, agents replying.

5,000 visitor sockets are open, each following its own conversation as the widget does; 1,000
of them chat, one message every 10 s at a random phase, each waiting for its ack; 50 agents,
each assigned 20 of those conversations and following them on their console socket, answer
every visitor message as soon as it arrives. For 60 s. Value: the worse of the two p99
latencies, visitor -> agent (send to the agent's receipt) and agent -> visitor (the reply's
send to the visitor's receipt); both ways, p50 and p99, are in the notes, with messages lost
(sent, never received) and never sent (a visitor held back by slow acks).

Confide runs as ``confide serve`` on SQLite. Baseline: the bare relay routing the same frames
both ways (``benchmarks/day_relay.py``), same load, same run. The load generator is one
process on the same 2 cores as the server: its own CPU is measured and reported
(``loadgen_cpu_cores``), since every core it uses is one the server does not get.
"""

from __future__ import annotations

from benchmarks import day_load
from benchmarks.common import Result, sized
from benchmarks.day_load import DayTarget
from benchmarks.loadgen import run_in_process
from benchmarks.servers import (
    AGENT,
    LIMITS_NOTE,
    add_agents,
    confide_server,
    day_relay_server,
    shared_sqlite_population,
)

GOAL_P99_MS = 20.0
INTERVAL_SECONDS = 10.0


def _p99(outcome: dict[str, object]) -> float:
    return max(outcome["to_agent"]["p99_ms"], outcome["to_visitor"]["p99_ms"])  # type: ignore[index]


def _ways(outcome: dict[str, object]) -> str:
    a, v = outcome["to_agent"], outcome["to_visitor"]
    return (
        f"visitor->agent p50 {a['p50_ms']:.1f} / p99 {a['p99_ms']:.1f} ms, "  # type: ignore[index]
        f"agent->visitor p50 {v['p50_ms']:.1f} / p99 {v['p99_ms']:.1f} ms"  # type: ignore[index]
    )


async def run(quick: bool = False) -> Result:
    visitors = sized(5000, 500, quick)
    chatting = sized(1000, 100, quick)
    agents = sized(50, 5, quick)
    seconds = sized(60, 15, quick)
    per_agent = chatting // agents
    settings, population = await shared_sqlite_population(visitors)
    await add_agents(settings, population, agents, per_agent)
    assigned = [list(range(n * per_agent, (n + 1) * per_agent)) for n in range(agents)]
    with confide_server(settings) as server:
        target = DayTarget(
            server.visitor_urls(population.visitor_tokens),
            population.conversation_ids,
            [await server.agent_console_url(f"{AGENT}-{n}") for n in range(agents)],
            assigned,
            [server.pid],
            is_confide=True,
        )
        confide = run_in_process(day_load.day, target, chatting, seconds, INTERVAL_SECONDS)
    keys = [str(i) for i in range(visitors)]
    with day_relay_server(f"sqlite+aiosqlite:///{settings.data_dir}/day-relay.db") as relay:
        target = DayTarget(
            [(f"{relay.ws}/visitor/{key}", None) for key in keys],
            keys,
            [(f"{relay.ws}/console", None)] * agents,
            assigned,
            [relay.pid],
            is_confide=False,
        )
        base = run_in_process(day_load.day, target, chatting, seconds, INTERVAL_SECONDS)
    value, baseline = _p99(confide), _p99(base)
    nothing_lost = not (confide["lost_to_agent"] or confide["lost_to_visitor"] or confide["unsent"])
    return Result(
        name="realistic_day",
        value=round(value, 1),
        unit="ms p99 (worse way)",
        baseline=round(baseline, 1),
        baseline_name="bare relay routing the same frames both ways, same load, same run",
        ratio=round(value / baseline, 2) if baseline else 0.0,
        goal=f"p99 under {GOAL_P99_MS:g} ms both ways, nothing lost, nothing never sent",
        goal_met=value < GOAL_P99_MS and nothing_lost and not confide["errors"],
        notes=(
            f"{visitors} visitor sockets, {chatting} chatting (1 message / {INTERVAL_SECONDS:g} s, "
            f"random phase), {agents} agents answering each message, {seconds} s; "
            f"Confide {_ways(confide)}; relay {_ways(base)}; "
            f"lost {confide['lost_to_agent']} + {confide['lost_to_visitor']} of "
            f"{confide['sent']} + {confide['replies']}, {confide['unsent']} never sent, "
            f"{confide['errors']} errors; {confide['messages_per_second']:.0f} messages/s; "
            f"server {confide['server_cpu_cores']:.2f} cores, load generator "
            f"{confide['loadgen_cpu_cores']:.2f} cores of the 2 (relay run: "
            f"{base['server_cpu_cores']:.2f} and {base['loadgen_cpu_cores']:.2f}); "
            f"ratio is latency, lower is better; SQLite; {LIMITS_NOTE}"
        ),
        details={"confide": confide, "relay": base, "visitors": visitors},
    )
