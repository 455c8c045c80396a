"""The results table of ``docs/performance.md`` and the capacity table of
``docs/operations.md``: ``python -m benchmarks.report [--write]``.

Reads ``benchmarks/results/*.json`` and prints Markdown, so the tables in the documentation are
copied from the files the last run wrote, never typed by hand. ``--write`` replaces them
between their markers (``<!-- results:start ... -->``, ``<!-- capacity:start ... -->``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from benchmarks.__main__ import BENCHMARKS
from benchmarks.common import RESULTS_DIR

# Benchmarks whose module writes several result files.
_RESULT_NAMES = {
    "connections": ["connections_memory", "connections_broadcast"],
    "recovery": ["recovery_redis", "recovery_postgres_ack", "recovery_postgres"],
    "multi_node": ["multi_node", "multi_node_4"],
}


BACKENDS = ("sqlite", "postgres")


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a shell pipe in a baseline's name splits the row)."""
    return text.replace("|", "\\|")


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def table() -> str:
    results: list[dict[str, Any]] = []
    for benchmark in BENCHMARKS:
        paths = [RESULTS_DIR / f"{name}.json" for name in _RESULT_NAMES.get(benchmark, [benchmark])]
        if not any(path.exists() for path in paths):
            # One file per backend: <name>_sqlite.json, <name>_postgres.json.
            paths = [RESULTS_DIR / f"{benchmark}_{backend}.json" for backend in BACKENDS]
        for path in paths:
            if path.exists():
                results.append(json.loads(path.read_text()))
    if not results:
        return "No results yet: run `python3 dev.py bench`."
    first = results[0]["machine"]
    lines = [
        f"Machine: {first['cores']} cores, {first['memory_gib']} GiB, Python {first['python']}. "
        f"Runs from {min(r['date'] for r in results)} to {max(r['date'] for r in results)}.",
        "",
        "| Benchmark | Value | Baseline (same run) | Ratio | Goal | Met |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        quick = " (quick)" if r.get("details", {}).get("quick") else ""
        baseline_name, goal = _cell(r["baseline_name"]), _cell(r["goal"])
        lines.append(
            f"| `{r['name']}`{quick} | {_number(r['value'])} {r['unit']} "
            f"| {_number(r['baseline'])} ({baseline_name}) | {r['ratio']}x "
            f"| {goal} | {'yes' if r['goal_met'] else '**no**'} |"
        )
    lines += ["", "Notes from the same files:", ""]
    lines += [f"- `{r['name']}`: {r['notes']}" for r in results if r.get("notes")]
    return "\n".join(lines)


# A chat, for the capacity table: one visitor message every 10 s and one agent reply (the
# load of realistic_day).
MESSAGES_PER_SECOND_PER_CHAT = 0.2
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _capacity_row(label: str, nodes: int, run: dict[str, Any], command: str) -> str:
    if "error" in run:
        return f"| {label} | failed: {_cell(run['error'])} | | | | | | `{command}` |"
    rate, cpu_ms = run["messages_per_second"], run["server_cpu_ms_per_message"]
    per_core = 1000 / cpu_ms if cpu_ms else 0.0
    return (
        f"| {label} | {_number(rate)} | {_number(rate / nodes)} | {cpu_ms:.2f} ms "
        f"| {_number(per_core)} | {_number(per_core / MESSAGES_PER_SECOND_PER_CHAT)} "
        f"| {'no' if run['lost'] else 'none'} | `{command}` |"
    )


def capacity_table() -> str:
    """Concurrent chats and messages/s per node and per core, from the result files."""
    saturation, multi = _load("message_saturation"), _load("multi_node")
    lines = [
        "| Deployment | Messages/s measured (all nodes) | per node | Server CPU per message "
        "| Messages/s per core (derived) | Concurrent chats per core (derived) | Lost "
        "| Reproduce |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if saturation is not None:
        run = saturation["details"]["confide"]
        command = "python -m benchmarks message_saturation"
        lines.append(_capacity_row("SQLite, 1 node", 1, run, command))
    if multi is not None:
        command = "python -m benchmarks multi_node"
        for label, key, nodes in (
            ("PostgreSQL + Redis, 1 node", "one_node", 1),
            ("PostgreSQL + Redis, 2 nodes", "two_nodes", 2),
            ("PostgreSQL + Redis, 4 nodes", "four_nodes", 4),
        ):
            if key in multi["details"]:
                lines.append(_capacity_row(label, nodes, multi["details"][key], command))
    dates = [r["date"] for r in (saturation, multi) if r is not None]
    quick = [r["name"] for r in (saturation, multi) if r and r["details"].get("quick")]
    lines += [
        "",
        f"Runs from {min(dates, default='-')} to {max(dates, default='-')}"
        + (f" (quick runs: {', '.join(quick)})" if quick else "")
        + ". Messages/s measured: every visitor sending back to back (sizes in each result's "
        "notes), "
        "on the 2 shared cores, which also run the load generator, PostgreSQL and Redis. "
        "Per core: 1,000 ms / server CPU per message, i.e. what one `confide serve` process "
        "with a core of its own would carry (Confide's processes only: PostgreSQL's and "
        "Redis's CPU is not counted). Concurrent chats: per core / "
        f"{MESSAGES_PER_SECOND_PER_CHAT:g} messages/s per chat (a visitor message every 10 s "
        "and an agent reply, the load of `realistic_day`).",
    ]
    day = _load("realistic_day")
    if day is not None:
        confide = day["details"]["confide"]
        lines += [
            "",
            f"Measured whole (`python -m benchmarks realistic_day`, SQLite, 1 node): "
            f"{confide['visitors']:,} visitors connected, {confide['chatting']:,} chatting and "
            f"{confide['agents']} agents replying: p99 {confide['to_agent']['p99_ms']:.1f} ms "
            f"visitor to agent, "
            + (
                "no reply delivered within the drain, "
                if confide["lost_to_visitor"] == confide["replies"]
                else f"{confide['to_visitor']['p99_ms']:.1f} ms agent to visitor, "
            )
            + f"{confide['lost_to_agent'] + confide['lost_to_visitor']} lost, "
            f"{confide['unsent']} never sent; the server used "
            f"{confide['server_cpu_cores']:.2f} cores, the load generator "
            f"{confide['loadgen_cpu_cores']:.2f}"
            + (" (quick run)" if day["details"].get("quick") else "")
            + ".",
        ]
    return "\n".join(lines)


def _replace(path: Path, marker: str, text: str) -> None:
    pattern = re.compile(
        rf"(<!-- {marker}:start[^>]*-->\n)(?:.*?\n)?(<!-- {marker}:end -->)", flags=re.DOTALL
    )
    content = path.read_text()
    if not pattern.search(content):
        raise SystemExit(f"{path}: no <!-- {marker}:start --> ... <!-- {marker}:end --> markers")
    path.write_text(pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), content))


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        _replace(DOCS / "performance.md", "results", table())
        _replace(DOCS / "operations.md", "capacity", capacity_table())
    else:
        print(table())
        print()
        print(capacity_table())
