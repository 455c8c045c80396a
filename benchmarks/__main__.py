"""Run the benchmarks: ``python -m benchmarks [--quick] [name ...]`` (or ``python3 dev.py bench``).

Prints a table and writes ``benchmarks/results/<name>.json``. ``--quick`` runs smaller sizes
while developing; its results are written too, marked ``"quick": true`` in their details.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.table import Table

from benchmarks.common import Result, machine, write_result

BENCHMARKS = [
    "auth_overhead",
    "message_privacy",
    "message_saturation",
    "message_steady",
    "connections",
    "multi_node",
    "realistic_day",
    "redaction",
    "recovery",
    "search",
    "erasure",
    "attachments",
    "subject_export",
    "backup",
    "retention",
    "mirroring",
]


def main(argv: list[str]) -> int:
    logging.disable(logging.INFO)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {BENCHMARKS}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for development")
    args = parser.parse_args(argv)
    names = args.names or BENCHMARKS
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"Unknown benchmark(s): {sorted(unknown)}; choose from {BENCHMARKS}")
        return 2
    table = Table(title=f"Confide benchmarks ({machine()})")
    for column in ("benchmark", "value", "baseline", "ratio", "goal", "met"):
        table.add_column(column)
    failed: list[str] = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        run: Callable[[bool], Awaitable[Result | list[Result]]] = module.run
        try:
            outcome = asyncio.run(run(args.quick))
        except Exception:  # one broken benchmark must not hide the others' results
            traceback.print_exc()
            failed.append(name)
            table.add_row(name, "failed", "", "", "", "NO")
            continue
        quick_flag = " --quick" if args.quick else ""
        for result in outcome if isinstance(outcome, list) else [outcome]:
            if args.quick:
                result.details["quick"] = True
            write_result(result, command=f"python3 dev.py bench{quick_flag} {name}")
            table.add_row(
                result.name,
                f"{result.value} {result.unit}",
                f"{result.baseline}",
                f"{result.ratio}x",
                result.goal,
                "yes" if result.goal_met else "NO",
            )
            Console().print(f"{result.name}: {result.value} {result.unit} ({result.ratio}x)")
    Console().print(table)
    if failed:
        print(f"Failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
