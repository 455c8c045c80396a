"""Test fixtures: a real database per test (SQLite file or PostgreSQL), the app over ASGI.

Backend: ``--backend=sqlite|postgres`` or ``CONFIDE_TEST_BACKEND``. On PostgreSQL one database
is created and migrated per run and its tables are emptied before each test; on SQLite a
migrated template file is copied for each test. ``CONFIDE_TEST_STRICT=1`` (set by CI) turns any
skipped test into a failure, requires that a browser test (tests/browser) passed, and on
PostgreSQL that the ``postgres`` tests ran.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import text

from confide.access.models import Role
from confide.access.operators import do_create_operator
from confide.access.workspaces import do_create_workspace
from confide.api.app import create_app
from confide.backup.pg_load import verify_database_url
from confide.core import clock
from confide.core.config import Settings
from confide.core.db import Database
from confide.core.migrate import upgrade
from confide.models import metadata
from confide.runtime import Runtime

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("CONFIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("sqlite", "postgres"),
        default=os.environ.get("CONFIDE_TEST_BACKEND", "sqlite"),
        help="Database backend for the whole suite.",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests about one backend itself only make sense there: deselect them (not skip) on the
    # other ("postgres" on SQLite, "sqlite", such as the lock beside a SQLite file, on PostgreSQL).
    other = "sqlite" if config.getoption("--backend") == "postgres" else "postgres"
    keep = [i for i in items if i.get_closest_marker(other) is None]
    dropped = [i for i in items if i.get_closest_marker(other) is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


_outcomes: dict[str, list[str]] = {"skipped": [], "postgres_passed": [], "browser_passed": []}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _outcomes["skipped"].append(report.nodeid)
    elif report.when == "call" and report.passed and "postgres" in report.keywords:
        _outcomes["postgres_passed"].append(report.nodeid)
    if report.when == "call" and report.passed and "browser" in report.keywords:
        _outcomes["browser_passed"].append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CONFIDE_TEST_STRICT") != "1":
        return
    problems = []
    if _outcomes["skipped"]:
        problems.append(
            f"{len(_outcomes['skipped'])} test(s) were skipped: {_outcomes['skipped'][:5]}"
        )
    if session.config.getoption("--backend") == "postgres" and not _outcomes["postgres_passed"]:
        problems.append("no test marked 'postgres' passed on the PostgreSQL backend")
    if not _outcomes["browser_passed"]:
        problems.append("no browser test (tests/browser, Debian's chromium) passed")
    if problems:
        for problem in problems:
            print(f"\nSTRICT MODE FAILURE: {problem}")
        session.exitstatus = 1


# -- database -----------------------------------------------------------------------------


@dataclass
class DatabaseTemplate:
    backend: str
    url: str
    sqlite_template: Path | None = None


async def _prepare_sqlite(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    await db.dispose()


async def _create_pg_database(admin_url: str, name: str) -> str:
    admin = Database(admin_url)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    await upgrade(db)
    await db.dispose()
    return url


async def _drop_pg_database(admin_url: str, name: str) -> None:
    admin = Database(admin_url)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
def database_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseTemplate]:
    backend = request.config.getoption("--backend")
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(_prepare_sqlite(path))
        yield DatabaseTemplate("sqlite", "", path)
        return
    admin_url = os.environ.get("CONFIDE_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    name = f"confide_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = asyncio.run(_create_pg_database(admin_url, name))
    yield DatabaseTemplate("postgres", url)
    asyncio.run(_drop_pg_database(admin_url, name))
    # The scratch database `confide backup verify` keeps beside it (confide.backup.snapshot).
    asyncio.run(_drop_pg_database(admin_url, verify_database_url(url).rsplit("/", 1)[1]))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def database_url(database_template: DatabaseTemplate, data_dir: Path) -> str:
    if database_template.backend == "sqlite":
        assert database_template.sqlite_template is not None
        target = data_dir / "confide.db"
        shutil.copy(database_template.sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"
    return database_template.url


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        lockout_threshold=3,
        # The tests' webhook receivers run on this machine; SSRF tests clear this.
        outbound_allowed_networks=["127.0.0.1/32"],
    )


# Every table emptied before each PostgreSQL test, dependants first, in one simple-query trip.
# DELETE, not TRUNCATE: TRUNCATE gives each of the 60 tables and their indexes new files, about
# 1 s per test here against 5 ms (the schema has no sequences to restart). Names: our own tables.
_EMPTY_TABLES = "\n".join(
    f'DELETE FROM "{t.name}";'  # noqa: S608
    for t in reversed(metadata.sorted_tables)
)


@pytest.fixture
async def rt(settings: Settings, database_template: DatabaseTemplate) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_settings(settings)
    await runtime.prepare()
    if database_template.backend == "postgres":
        async with runtime.db.engine.begin() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(_EMPTY_TABLES)  # type: ignore[union-attr]
    clock.reset()
    yield runtime
    clock.reset()
    await runtime.close()


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=rt)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


# -- several nodes -------------------------------------------------------------------------


@pytest.fixture
async def two_nodes(settings: Settings, rt: Runtime) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two nodes on the test's database that talk through Redis (``REDIS_URL``), each
    prepared as a server starts (``Runtime.prepare``: the key store's schema, the key cache's
    subscription), for tests of what one node's change does to the other's caches. Tests that
    use it are marked ``redis``."""
    nodes = [Runtime.from_settings(settings.with_overrides(redis_url=REDIS_URL)) for _ in "ab"]
    try:
        for node in nodes:
            await node.prepare()
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            await node.close()


# -- people -------------------------------------------------------------------------------


@dataclass
class Account:
    id: uuid.UUID
    workspace: str | None
    username: str
    password: str = PASSWORD


class World:
    """Builds workspaces, groups and operators directly through the actions."""

    def __init__(self, rt: Runtime, client: httpx.AsyncClient) -> None:
        self.rt = rt
        self.client = client
        self.workspaces: dict[str, uuid.UUID] = {}

    async def workspace(self, slug: str = "acme", *, mfa_required: bool = False) -> uuid.UUID:
        if slug not in self.workspaces:
            ws = await do_create_workspace(
                self.rt, slug=slug, name=slug.title(), mfa_required_for_admins=mfa_required
            )
            self.workspaces[slug] = ws.id
        return self.workspaces[slug]

    async def group(self, name: str, slug: str = "acme") -> uuid.UUID:
        from confide.access.groups import do_create_group

        group = await do_create_group(self.rt, None, await self.workspace(slug), name)
        return group.id

    async def operator(
        self,
        username: str,
        role: Role = Role.AGENT,
        *,
        slug: str | None = "acme",
        groups: list[uuid.UUID] | None = None,
        **profile: str,
    ) -> Account:
        workspace_id = await self.workspace(slug) if slug else None
        operator_id = await do_create_operator(
            self.rt,
            None,
            workspace_id=workspace_id,
            username=username,
            password=PASSWORD,
            role=role,
            profile=profile or {"name": f"{username.title()} Example"},
            group_ids=groups or [],
        )
        return Account(operator_id, slug, username)

    async def login(self, account: Account, **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"username": account.username, "password": account.password}
        if account.workspace:
            body["workspace"] = account.workspace
        body.update(extra)
        return await self.client.post("/api/v1/auth/login", json=body)

    async def headers(self, account: Account) -> dict[str, str]:
        response = await self.login(account)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def world(rt: Runtime, client: httpx.AsyncClient) -> World:
    return World(rt, client)


def totp_now(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(clock.utcnow().timestamp()) + 30 * offset_steps)


# -- a real server on loopback, for WebSocket tests ----------------------------------------


@dataclass
class LiveServer:
    http_url: str
    ws_url: str


@pytest.fixture
async def live_server(rt: Runtime) -> AsyncIterator[LiveServer]:
    import uvicorn

    app = create_app(runtime=rt)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="websockets-sansio" if _has_sansio() else "websockets",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    await rt.broker.start()
    yield LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    server.should_exit = True
    await task


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True
