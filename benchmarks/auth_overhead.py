"""Cost of authentication and policy on an API request.

Value: requests/s of ``GET /api/v1/me`` (bearer token checked against its live session, groups
loaded, policy asked, profile read from the vault). Baseline: ``GET /api/v1/health`` through
the same app and middleware, same run. Both in-process over ASGI, one request at a time, on
SQLite, so the ratio isolates what authentication costs.
"""

from __future__ import annotations

import time

import httpx

from benchmarks.common import Result, temporary_runtime
from confide.access.models import Role
from confide.access.operators import do_create_operator
from confide.access.workspaces import do_create_workspace
from confide.api.app import create_app

REQUESTS = 2000
GOAL_RATIO = 0.25


async def _rate(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    for _ in range(50):  # warm-up
        (await client.get(path, headers=headers)).raise_for_status()
    started = time.perf_counter()
    for _ in range(REQUESTS):
        (await client.get(path, headers=headers)).raise_for_status()
    return REQUESTS / (time.perf_counter() - started)


async def run(quick: bool = False) -> Result:
    async with temporary_runtime(argon2_memory_kib=8192, argon2_time_cost=1) as rt:
        workspace = await do_create_workspace(rt, slug="bench", name="Bench")
        await do_create_operator(
            rt,
            None,
            workspace_id=workspace.id,
            username="bench-agent",
            password="benchmark password 1",
            role=Role.AGENT,
            profile={"name": "Bench Agent"},
        )
        app = create_app(runtime=rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bench") as client:
            login = await client.post(
                "/api/v1/auth/login",
                json={
                    "workspace": "bench",
                    "username": "bench-agent",
                    "password": "benchmark password 1",
                },
            )
            login.raise_for_status()
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            baseline = await _rate(client, "/api/v1/health", {})
            value = await _rate(client, "/api/v1/me", auth)
    ratio = value / baseline
    return Result(
        name="auth_overhead",
        value=round(value, 1),
        unit="requests/s",
        baseline=round(baseline, 1),
        baseline_name="GET /api/v1/health, same app, same run",
        ratio=round(ratio, 3),
        goal=f"authenticated request at least {GOAL_RATIO}x the unauthenticated one",
        goal_met=ratio >= GOAL_RATIO,
    )
