"""A private two-node cluster whose Redis and PostgreSQL can be killed and stopped.

Shared by the fault-injection tests (``tests/faults``) and the recovery benchmark
(``benchmarks/recovery.py``). Nothing here touches the machine's own services: Redis is a
``redis-server`` on a spare port, PostgreSQL a cluster made with ``initdb`` in a temporary
directory (run as the ``postgres`` user when we are root: PostgreSQL refuses to run as root),
and both nodes are real ``confide serve`` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr

from confide.access.groups import do_create_group
from confide.access.models import Role
from confide.access.operators import do_create_operator
from confide.access.workspaces import do_create_workspace
from confide.core.config import Settings
from confide.core.db import Database
from confide.core.migrate import upgrade
from confide.crypto.providers import MASTER_KEY_FILE
from confide.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
START_TIMEOUT_SECONDS = 60.0


class ServiceMissing(RuntimeError):
    """redis-server or PostgreSQL's initdb/pg_ctl is not installed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_port(port: int, up: bool, timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not go {'up' if up else 'down'} in time")


class PrivateRedis:
    """``redis-server`` on a spare port; ``kill()`` is SIGKILL (no goodbye to clients)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceMissing("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), *options, "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, up=True)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


def _postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            raise ServiceMissing("PostgreSQL's initdb is not installed")
        return Path(found).parent
    return candidates[0].parent


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust auth, loopback, no fsync) on a spare port."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="confide-fault-pg-"))
        self.data = self.root / "data"
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            shutil.chown(self.root, user=self._user)

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            user=self._user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.root,
        )

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = str(self.root / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        _wait_port(self.port, up=True)
        self._wait_accepting()

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("the private PostgreSQL did not accept connections")

    def stop(self) -> None:
        """Fast shutdown: sessions are ended, as in a failover or a restart."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def create_database(self, name: str) -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()


@dataclass
class Node:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"


@dataclass
class Cluster:
    """Private Redis + PostgreSQL and two nodes; ``workspace`` ``acme`` with a team."""

    workdir: Path
    redis: PrivateRedis
    postgres: PrivatePostgres
    settings: Settings
    nodes: list[Node] = field(default_factory=list)
    group_id: str = ""
    agent: str = "alice"
    admin: str = "ada"

    def node_env(self, data_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
        master_key = (self.settings.data_dir / MASTER_KEY_FILE).read_text().strip()
        assert self.settings.secret_key is not None
        env.update(
            {
                "CONFIDE_DATABASE_URL": self.settings.resolved_database_url,
                "CONFIDE_KEYSTORE_URL": self.settings.resolved_keystore_url,
                "CONFIDE_MASTER_KEY": master_key,
                "CONFIDE_REDIS_URL": self.redis.url,
                "CONFIDE_SECRET_KEY": self.settings.secret_key.get_secret_value(),
                "CONFIDE_DATA_DIR": str(data_dir),
                "CONFIDE_ARGON2_MEMORY_KIB": "1024",
                "CONFIDE_ARGON2_TIME_COST": "1",
                "CONFIDE_ARGON2_PARALLELISM": "1",
                "CONFIDE_VISITOR_MESSAGES_PER_MINUTE": "100000",
                "CONFIDE_CONVERSATIONS_PER_IP_PER_HOUR": "100000",
                "CONFIDE_LOG_LEVEL": "WARNING",
            }
        )
        return env

    def start_node(self, name: str) -> Node:
        port = free_port()
        data_dir = self.workdir / f"node-{name}"
        data_dir.mkdir()
        log_path = self.workdir / f"node-{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "confide", "serve", "--port", str(port), "--no-migrate"],
                env=self.node_env(data_dir),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        node = Node(name, process, log_path, port)
        self.nodes.append(node)
        return node

    async def wait_ready(self) -> None:
        """Until every node answers ``/api/v1/health/ready`` with 200."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=2.0) as http:
            for node in self.nodes:
                while True:
                    if node.process.poll() is not None:
                        raise RuntimeError(f"node {node.name} exited:\n{node.log_tail()}")
                    with contextlib.suppress(httpx.TransportError):
                        response = await http.get(f"{node.http_url}/api/v1/health/ready")
                        if response.status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"node {node.name} never ready:\n{node.log_tail()}")
                    await asyncio.sleep(0.1)

    async def readiness(self, node: Node) -> dict[str, str]:
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.get(f"{node.http_url}/api/v1/health/ready")
        checks: dict[str, str] = response.json()["checks"]
        return checks

    def stop_nodes(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(timeout=10)


async def _populate(cluster: Cluster) -> None:
    rt = Runtime.from_settings(cluster.settings)
    await rt.prepare()
    try:
        workspace = await do_create_workspace(
            rt, slug="acme", name="Acme", mfa_required_for_admins=False
        )
        group = await do_create_group(rt, None, workspace.id, "Support")
        cluster.group_id = str(group.id)
        for username, role, groups in (
            (cluster.agent, Role.AGENT, [group.id]),
            (cluster.admin, Role.ADMIN, []),
        ):
            await do_create_operator(
                rt,
                None,
                workspace_id=workspace.id,
                username=username,
                password=PASSWORD,
                role=role,
                profile={"name": f"{username.title()} Example"},
                group_ids=groups,
            )
    finally:
        await rt.close()


@contextlib.asynccontextmanager
async def private_cluster(workdir: Path, nodes: int = 2):  # type: ignore[no-untyped-def]
    """Start Redis, PostgreSQL (migrated, populated) and ``nodes`` Confide nodes."""
    redis = PrivateRedis(workdir)
    postgres = PrivatePostgres()
    redis.start()
    try:
        postgres.init()
        postgres.start()
        await postgres.create_database("confide")
        await postgres.create_database("confide_keys")
        data_dir = workdir / "setup"
        data_dir.mkdir()
        settings = Settings(
            data_dir=data_dir,
            database_url=postgres.url("confide"),
            keystore_url=postgres.url("confide_keys"),
            secret_key=SecretStr(secrets.token_urlsafe(48)),
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            argon2_parallelism=1,
        )
        db = Database(settings.resolved_database_url)
        await upgrade(db)
        await db.dispose()
        cluster = Cluster(workdir, redis, postgres, settings)
        await _populate(cluster)
        try:
            for index in range(nodes):
                cluster.start_node("ab"[index] if index < 2 else str(index))
            await cluster.wait_ready()
            yield cluster
        finally:
            cluster.stop_nodes()
    finally:
        redis.kill()
        postgres.destroy()
