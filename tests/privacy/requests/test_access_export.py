"""An access request builds the subject's export ZIP through the one call site
(``acts._export`` -> ``confide.privacy.export.build_subject_export``) and completes with a
receipt."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from confide.core.config import Settings
from confide.privacy.requests.models import DsrCase
from confide.runtime import Runtime
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)
from tests.privacy.requests.helpers import (
    EMAIL,
    admin,
    identified_visitor,
    portal_token,
    run_jobs,
)
from tests.privacy.requests.test_cli import confide_cli

CASES = "/api/v1/dsr/cases"


async def test_an_access_case_builds_the_export_and_completes_with_a_receipt(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    case = (
        await client.post(
            CASES,
            json={"kind": "access", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    done = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    receipt = (await client.get(f"{CASES}/{case['id']}/receipt", headers=headers)).json()
    assert receipt["receipt"]["actions"] == ["exported"]
    async with rt.db.session() as session:
        stored = await session.get(DsrCase, uuid.UUID(case["id"]))
    assert stored is not None and stored.export_key


async def test_the_admin_gets_a_short_lived_download_link_for_the_case(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    case = (
        await client.post(
            CASES,
            json={"kind": "portability", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    none_yet = await client.get(f"{CASES}/{case['id']}/download", headers=headers)
    assert none_yet.status_code == 404
    await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    link = (await client.get(f"{CASES}/{case['id']}/download", headers=headers)).json()
    download = await client.get(link["url"])
    assert download.status_code == 200 and download.content[:2] == b"PK"


@pytest.mark.smtp
async def test_the_portal_offers_the_download_at_once_where_the_workspace_allows(
    world: World, client: httpx.AsyncClient, rt: Runtime, settings: Settings, mailbox: MailBox
) -> None:
    rt.settings = with_smtp(settings, mailbox)
    headers = await admin(world)
    await identified_visitor(client, headers)
    allowed = await client.put(
        "/api/v1/dsr/settings", json={"target_days": 7, "instant_download": True}, headers=headers
    )
    assert allowed.status_code == 200
    await client.post("/api/v1/portal/acme/link", json={"email": EMAIL})
    await run_jobs(rt)
    [mail] = await mailbox.wait_for(1)
    session = (
        await client.post("/api/v1/portal/acme/verify", json={"token": portal_token(mail)})
    ).json()["session"]
    filed = await client.post(
        "/api/v1/portal/acme/requests",
        json={"kind": "access"},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert filed.status_code == 201, filed.text
    assert filed.json()["status"] == "completed"
    download = await client.get(filed.json()["download_url"])
    assert download.status_code == 200 and download.content[:2] == b"PK"


async def test_confide_dsr_export_writes_the_zip(
    world: World,
    client: httpx.AsyncClient,
    data_dir: Path,
    database_url: str,
    tmp_path: Path,
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    out = tmp_path / "export.zip"
    result = await asyncio.to_thread(
        confide_cli,
        data_dir,
        database_url,
        "dsr",
        "export",
        "--workspace",
        "acme",
        "--visitor",
        person.visitor_id,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_bytes()[:2] == b"PK" and out.stat().st_mode & 0o777 == 0o600
