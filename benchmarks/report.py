"""The results table of ``docs/performance.md``: ``python -m benchmarks.report``.

Reads ``benchmarks/results/*.json`` and prints Markdown, so the table in the documentation is
copied from the files the last run wrote, never typed by hand.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.__main__ import BENCHMARKS
from benchmarks.common import RESULTS_DIR

# Benchmarks whose module writes several result files.
_RESULT_NAMES = {
    "connections": ["connections_memory", "connections_broadcast"],
    "recovery": ["recovery_redis", "recovery_postgres_ack", "recovery_postgres"],
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


if __name__ == "__main__":
    print(table())
