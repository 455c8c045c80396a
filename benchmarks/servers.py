"""Real servers for the socket benchmarks: Confide and the relay as uvicorn processes.

Visitors, their web conversations and the agent are created before the server starts, through
Confide's own actions, so nothing of the setup is timed. The server runs with its rate limits
raised (``RAISED_LIMITS``): the benchmark's 1,000 visitors share one IP address and send far
more than a person types.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from benchmarks.loadgen import SocketAddress, Target
from confide.access.groups import do_create_group
from confide.access.models import Role
from confide.access.operators import do_create_operator
from confide.access.workspaces import do_create_workspace
from confide.chat.conversations import do_start_conversation
from confide.chat.visitors import authenticate_visitor_token, do_create_visitor
from confide.core.config import Settings
from confide.core.migrate import upgrade
from confide.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = "bench"
AGENT = "bench-agent"
AGENT_PASSWORD = "benchmark password 1"
POSTGRES_URL = os.environ.get(
    "CONFIDE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CONFIDE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RAISED_LIMITS = {
    "CONFIDE_VISITOR_MESSAGES_PER_MINUTE": "100000000",
    "CONFIDE_CONVERSATIONS_PER_IP_PER_HOUR": "100000000",
    "CONFIDE_TYPING_EVENTS_PER_MINUTE": "100000000",
}
LIMITS_NOTE = "rate limits raised through settings (visitor_messages_per_minute, ...)"
# Cheap password hashing for the benchmark agent only: login is not what is measured.
_FAST_SETTINGS = {"argon2_memory_kib": 8192, "argon2_time_cost": 1, "argon2_parallelism": 1}


@dataclass
class Population:
    visitor_tokens: list[str]
    conversation_ids: list[str]


_SHARED: dict[int, tuple[Settings, Population]] = {}


async def shared_sqlite_population(visitors: int) -> tuple[Settings, Population]:
    """A SQLite instance with ``visitors`` visitors, made once per process and reused by the
    message benchmarks of one run: setup is not what they measure, and it took as long."""
    if visitors not in _SHARED:
        data_dir = tempfile.mkdtemp(prefix="confide-bench-")
        atexit.register(shutil.rmtree, data_dir, True)
        settings = bench_settings(Path(data_dir))
        _SHARED[visitors] = (settings, await populate(settings, visitors))
    return _SHARED[visitors]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def populate(settings: Settings, visitors: int) -> Population:
    """Workspace, one group, its agent, and visitors each with a web chat waiting in the group
    (an agent sees the conversations waiting in their groups)."""
    rt = Runtime.from_settings(settings)
    try:
        await upgrade(rt.db)
        await rt.prepare()
        workspace = await do_create_workspace(rt, slug=WORKSPACE, name="Bench")
        group = await do_create_group(rt, None, workspace.id, "Support")
        await do_create_operator(
            rt,
            None,
            workspace_id=workspace.id,
            username=AGENT,
            password=AGENT_PASSWORD,
            role=Role.AGENT,
            profile={"name": "Bench Agent", "alias": "Bench"},
            group_ids=[group.id],
        )

        async def one() -> tuple[str, str]:
            visitor = await do_create_visitor(rt, WORKSPACE)
            principal = await authenticate_visitor_token(rt, visitor.token)
            started = await do_start_conversation(rt, principal, visitor_id=visitor.visitor_id)
            conversation = started.conversation
            return visitor.token, str(conversation.id)

        made: list[tuple[str, str]] = []
        while len(made) < visitors:
            batch = min(20, visitors - len(made))
            made += await asyncio.gather(*(one() for _ in range(batch)))
    finally:
        await rt.close()
    return Population([t for t, _ in made], [c for _, c in made])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def visitor_urls(self, tokens: list[str]) -> list[SocketAddress]:
        # The token travels as a subprotocol, never in the URL (confide.realtime.endpoints).
        return [(f"{self.ws}/api/v1/ws/widget", token) for token in tokens]

    async def agent_console_url(self, username: str = AGENT) -> SocketAddress:
        async with httpx.AsyncClient(base_url=self.http) as client:
            response = await client.post(
                "/api/v1/auth/login",
                json={"workspace": WORKSPACE, "username": username, "password": AGENT_PASSWORD},
            )
            response.raise_for_status()
            token = response.json()["access_token"]
        return (f"{self.ws}/api/v1/ws/console", token)


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout_seconds: float = 60) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url}")


@contextmanager
def _process(
    args: list[str], env: dict[str, str], ready_url: str, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    # Our own interpreter and modules, arguments built here.
    process = subprocess.Popen(args, cwd=cwd, env={**os.environ, **env})  # noqa: S603
    try:
        _wait_ready(process, ready_url)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bench_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, **_FAST_SETTINGS, **overrides)  # type: ignore[arg-type]


def confide_env(settings: Settings) -> dict[str, str]:
    env = {
        "CONFIDE_DATA_DIR": str(settings.data_dir),
        "CONFIDE_DATABASE_URL": settings.resolved_database_url,
        "CONFIDE_KEYSTORE_URL": settings.resolved_keystore_url,
        "CONFIDE_LOG_LEVEL": "WARNING",
        "CONFIDE_ACCESS_TOKEN_TTL_SECONDS": "3600",
        **RAISED_LIMITS,
    }
    if settings.redis_url:
        env["CONFIDE_REDIS_URL"] = settings.redis_url
    return env


@contextmanager
def confide_server(settings: Settings, *, tree: Path | None = None, **env: str) -> Iterator[Server]:
    """``confide serve`` on a free port (migrations already ran in :func:`populate`); ``env``
    adds settings (``CONFIDE_...``) for this server only; ``tree``: run the code of another
    checkout (a *before* measured in the same run), which must share the migrations."""
    port = free_port()
    args = [sys.executable, "-m", "confide", "serve", "--port", str(port), "--no-migrate"]
    ready = f"http://127.0.0.1:{port}/api/v1/health"
    if tree is not None:
        env = {**env, "PYTHONPATH": str(tree)}
    environment = {**confide_env(settings), **env}
    with _process(args, environment, ready, cwd=tree or ROOT) as process:
        yield Server(process, port)


@contextmanager
def relay_server(database_url: str, *, group_commit: bool = False) -> Iterator[Server]:
    """The relay (``benchmarks/relay.py``); ``group_commit``: the limit baseline."""
    port = free_port()
    args = [sys.executable, "-m", "benchmarks.relay", "--port", str(port)]
    args += ["--database-url", database_url]
    if group_commit:
        args.append("--group-commit")
    with _process(args, {}, f"http://127.0.0.1:{port}/") as process:
        yield Server(process, port)


@contextmanager
def day_relay_server(database_url: str) -> Iterator[Server]:
    """The relay routing both ways (``benchmarks/day_relay.py``), for ``realistic_day``."""
    port = free_port()
    args = [sys.executable, "-m", "benchmarks.day_relay", "--port", str(port)]
    args += ["--database-url", database_url]
    with _process(args, {}, f"http://127.0.0.1:{port}/") as process:
        yield Server(process, port)


async def add_agents(
    settings: Settings, population: Population, agents: int, per_agent: int
) -> None:
    """``agents`` more agents (``bench-agent-<n>``, password ``AGENT_PASSWORD``) in the
    group; agent n is assigned the conversations ``n * per_agent ...`` (by an admin)."""
    from sqlalchemy import select

    from confide.access.models import Group
    from confide.access.policy import Principal
    from confide.chat.conversations import do_assign

    rt = Runtime.from_settings(settings)
    try:
        async with rt.db.session() as session:
            group = (await session.scalars(select(Group))).one()
        admin = Principal(kind="operator", workspace_id=group.workspace_id, role=Role.ADMIN)
        for n in range(agents):
            operator_id = await do_create_operator(
                rt,
                None,
                workspace_id=group.workspace_id,
                username=f"{AGENT}-{n}",
                password=AGENT_PASSWORD,
                role=Role.AGENT,
                profile={"name": f"Bench Agent {n}", "alias": f"Bench {n}"},
                group_ids=[group.id],
            )
            mine = population.conversation_ids[n * per_agent : (n + 1) * per_agent]
            for start in range(0, len(mine), 10):
                await asyncio.gather(
                    *(
                        do_assign(rt, admin, uuid.UUID(c), operator_id)
                        for c in mine[start : start + 10]
                    )
                )
    finally:
        await rt.close()


@asynccontextmanager
async def postgres_databases(*names: str) -> AsyncIterator[list[str]]:
    """Fresh PostgreSQL databases for one benchmark, dropped afterwards."""
    admin_dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    base = POSTGRES_URL.rsplit("/", 1)[0]
    created = [f"confide_bench_{name}_{uuid.uuid4().hex[:8]}" for name in names]
    conn = await asyncpg.connect(admin_dsn)
    try:
        for db in created:
            await conn.execute(f'CREATE DATABASE "{db}"')
        yield [f"{base}/{db}" for db in created]
    finally:
        for db in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await conn.close()


async def confide_target(server: Server, population: Population) -> Target:
    return Target(
        server.visitor_urls(population.visitor_tokens),
        await server.agent_console_url(),
        population.conversation_ids,
        [server.pid],
    )


def relay_target(server: Server, visitors: int) -> Target:
    return Target(
        [(f"{server.ws}/visitor", None)] * visitors,
        (f"{server.ws}/console", None),
        [],
        [server.pid],
    )
