"""Run the benchmarks: ``python -m benchmarks [name ...]`` (or ``python3 dev.py bench``).

Prints a table and writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.table import Table

from benchmarks.common import Result, machine, write_result

BENCHMARKS = ["auth_overhead", "message_privacy"]


def main(argv: list[str]) -> int:
    logging.disable(logging.INFO)
    names = argv or BENCHMARKS
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"Unknown benchmark(s): {sorted(unknown)}; choose from {BENCHMARKS}")
        return 2
    table = Table(title=f"Confide benchmarks ({machine()})")
    for column in ("benchmark", "value", "baseline", "ratio", "goal", "met"):
        table.add_column(column)
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        run: Callable[[], Awaitable[Result]] = module.run
        result = asyncio.run(run())
        write_result(result, command=f"python3 dev.py bench {name}")
        table.add_row(
            result.name,
            f"{result.value} {result.unit}",
            f"{result.baseline}",
            f"{result.ratio}x",
            result.goal,
            "yes" if result.goal_met else "NO",
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
