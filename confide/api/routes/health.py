"""Liveness and readiness for load balancers and orchestrators.

``/health/live`` answers while the process and its event loop run: restart the node when it
stops answering. ``/health/ready`` also checks what serving needs, the database (``SELECT 1``)
and, when configured, Redis (a ``PING`` and the broker's pub/sub connection): take the node
out of rotation while it answers 503, put it back when it answers 200. Neither reads personal
data nor needs a token. docs/operations.md shows the nginx configuration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from confide import __version__
from confide.api.deps import RuntimeDep
from confide.core import outages
from confide.runtime import Runtime

CHECK_TIMEOUT_SECONDS = 2.0
router = APIRouter(prefix="/health", tags=["meta"])


@router.get("/live")
async def live() -> dict[str, str]:
    """200 ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok", "version": __version__}


async def _database_ok(rt: Runtime) -> bool:
    async def probe() -> None:
        async with rt.db.session() as session:
            await session.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except Exception:  # whatever failed, this node cannot serve
        return False
    return True


async def _redis_state(rt: Runtime) -> str:
    if not rt.settings.redis_url:
        return "not_configured"
    try:
        reachable = await asyncio.wait_for(rt.broker.ping(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        reachable = False
    return "ok" if reachable and rt.broker.connected else "unavailable"


@router.get("/ready", responses={503: {"description": "A service this node needs is down."}})
async def ready(rt: RuntimeDep) -> JSONResponse:
    """200 when the database and Redis (if configured) answer; else 503 with Retry-After.

    Body: ``{"status": "ready"|"unavailable", "checks": {"database": ..., "redis": ...}}``,
    plus the usual ``error`` object on 503.
    """
    database = "ok" if await _database_ok(rt) else "unavailable"
    redis = await _redis_state(rt)
    checks = {"database": database, "redis": redis}
    if "unavailable" not in checks.values():
        return JSONResponse({"status": "ready", "checks": checks})
    error = outages.unavailable()
    body: dict[str, Any] = {"status": "unavailable", "checks": checks, **error.to_body()}
    return JSONResponse(body, status_code=503, headers=error.headers)
