"""Where the time goes on the message path: ``python -m benchmarks.profile [--visitors N]``.

Starts Confide as in ``message_saturation`` (on SQLite, or with ``--postgres`` on the local
PostgreSQL), drives it at saturation from the load generator process, and samples the server
with py-spy (``pip install -e '.[bench]'``) once the warm-up
is over, counting only the thread that holds the GIL (Python's CPU, not waiting). Prints the
functions holding the most samples (cumulative and own time) and writes the raw stacks to
``$TMPDIR/confide-message-path.stacks.txt`` (open them in speedscope or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from contextlib import AsyncExitStack
from pathlib import Path

from benchmarks import loadgen
from benchmarks.servers import (
    bench_settings,
    confide_server,
    confide_target,
    populate,
    postgres_databases,
)
from confide.core.config import Settings

WARMUP_SECONDS = 5
SAMPLE_SECONDS = 10
_FRAME = re.compile(r"(?P<function>.*) \((?P<file>.*?):\d+\)")


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"].split("site-packages/")[-1].split(str(Path.cwd()) + "/")[-1]
    return f"{match['function']} ({path})"


def summarise(stacks: Path, rows: int = 40) -> str:
    total = 0
    cumulative: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        names = [_name(frame) for frame in stack.split(";")]
        total += int(count)
        for name in set(names):
            cumulative[name] += int(count)
        own[names[-1]] += int(count)
    lines = [f"{total} samples", "-- cumulative"]
    lines += [f"{100 * n / total:5.1f}% {name}" for name, n in cumulative.most_common(rows)]
    lines += ["-- own time"]
    lines += [f"{100 * n / total:5.1f}% {name}" for name, n in own.most_common(rows // 2)]
    return "\n".join(lines)


async def _profile(
    visitors: int, warmup_seconds: float = WARMUP_SECONDS, postgres: bool = False
) -> Path:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if postgres:  # data and key store on PostgreSQL, as in multi_node's single node
            data_url, keys_url = await stack.enter_async_context(postgres_databases("data", "keys"))
            settings = bench_settings(tmp, database_url=data_url, keystore_url=keys_url)
        else:
            settings = bench_settings(tmp)
        return await _sample(settings, visitors, warmup_seconds)


async def _sample(settings: Settings, visitors: int, warmup_seconds: float) -> Path:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = Path(tempfile.gettempdir()) / "confide-message-path.stacks.txt"
    population = await populate(settings, visitors)
    with confide_server(settings) as server:
        target = await confide_target(server, population)
        command = [spy, "record", "-p", str(server.pid), "-d", str(SAMPLE_SECONDS)]
        command += ["-r", "200", "-f", "raw", "--nonblocking", "--gil", "-o", str(out)]

        def sample() -> None:
            subprocess.run(command, check=True, capture_output=True)  # noqa: S603

        sampler = threading.Timer(warmup_seconds, sample)
        sampler.start()
        seconds = warmup_seconds + SAMPLE_SECONDS + 2
        result = loadgen.run_in_process(loadgen.saturation, target, seconds, warmup_seconds)
        sampler.join()
    print(f"{result['messages_per_second']:.0f} messages/s while sampling")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=WARMUP_SECONDS,
        help="wait this long before sampling (longer on a loaded machine: the sockets connect "
        "and each conversation's first message creates its data key during the warm-up)",
    )
    parser.add_argument(
        "--postgres", action="store_true", help="data and key store on the local PostgreSQL"
    )
    args = parser.parse_args()
    stacks = asyncio.run(_profile(args.visitors, args.warmup_seconds, args.postgres))
    print(summarise(stacks))


if __name__ == "__main__":
    main()
