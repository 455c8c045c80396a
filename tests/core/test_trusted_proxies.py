"""Behind a reverse proxy: X-Forwarded-For names the client only when the peer is a trusted
proxy (``trusted_proxies``), for rate limits and connection logs alike. A real ``confide
serve`` process, reached on loopback as if through nginx."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from confide.access.workspaces import do_create_workspace
from confide.core.config import Settings
from confide.privacy.connections import read_ip
from confide.privacy.models import ConnectionLog
from confide.runtime import Runtime
from tests.jobs.test_cli import serve_process, stop_server
from tests.jobs.test_worker_process import worker_env

VISITOR_A, VISITOR_B = "203.0.113.7", "198.51.100.23"  # documentation ranges (RFC 5737)


async def _new_visitor(http: httpx.AsyncClient, forwarded_for: str) -> httpx.Response:
    return await http.post(
        "/api/v1/widget/acme/visitors", headers={"X-Forwarded-For": forwarded_for}
    )


async def _logged_ips(rt: Runtime) -> list[str | None]:
    async with rt.db.session() as session:
        ids = (
            await session.scalars(select(ConnectionLog.id).order_by(ConnectionLog.created_at))
        ).all()
    return [await read_ip(rt, None, log_id) for log_id in ids]


async def test_forwarded_client_is_believed_only_from_a_trusted_proxy(
    rt: Runtime, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await do_create_workspace(rt, slug="acme", name="Acme")
    env = worker_env(
        settings,
        database_url,
        trusted_proxies="127.0.0.1",
        conversations_per_ip_per_hour="1",
        run_jobs_in_process="false",
    )
    process, url, _log = await serve_process(env, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await _new_visitor(http, VISITOR_A)).status_code == 201
            assert (await _new_visitor(http, VISITOR_B)).status_code == 201  # its own bucket
            assert (await _new_visitor(http, VISITOR_A)).status_code == 429
            # A client cannot pick its address by prepending one: the right-most untrusted
            # entry (what the proxy itself saw) counts.
            spoofed = await _new_visitor(http, f"192.0.2.99, {VISITOR_A}")
            assert spoofed.status_code == 429
    finally:
        assert await stop_server(process)
    assert await _logged_ips(rt) == ["203.0.113.0/24", "198.51.100.0/24"]


async def test_forwarded_headers_are_ignored_without_trusted_proxies(
    rt: Runtime, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await do_create_workspace(rt, slug="acme", name="Acme")
    env = worker_env(
        settings, database_url, conversations_per_ip_per_hour="1", run_jobs_in_process="false"
    )
    process, url, _log = await serve_process(env, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await _new_visitor(http, VISITOR_A)).status_code == 201
            assert (await _new_visitor(http, VISITOR_B)).status_code == 429  # same peer
    finally:
        assert await stop_server(process)
    assert await _logged_ips(rt) == ["127.0.0.0/24"]


def test_a_wildcard_or_a_name_is_not_a_trusted_proxy() -> None:
    proxies = Settings(trusted_proxies="10.0.0.0/8, ::1")  # type: ignore[arg-type]
    assert proxies.trusted_proxies == ["10.0.0.0/8", "::1"]
    for bad in ("*", "proxy.example.invalid"):
        with pytest.raises(ValidationError) as error:
            Settings(trusted_proxies=bad)  # type: ignore[arg-type]
        assert "trusted_proxies" in str(error.value)
