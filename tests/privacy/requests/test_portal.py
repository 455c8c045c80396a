"""The privacy portal end to end with a real SMTP server on loopback: a person proves an
address by a one-time link, files an erasure; the admin carries it out; the signed receipt
verifies (and fails when one byte changes); nothing of the person stays readable."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from confide.core import clock
from confide.core.config import Settings
from confide.privacy.requests.receipts import verify_receipt
from confide.runtime import Runtime
from tests.conftest import DatabaseTemplate, World
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)
from tests.privacy.helpers import every_row_as_text
from tests.privacy.requests.helpers import (
    ADMIN_EMAIL,
    EMAIL,
    PHRASE,
    admin,
    identified_visitor,
    portal_token,
    run_jobs,
)

pytestmark = pytest.mark.smtp
NEEDLES = [EMAIL, "quill.dsrtester", "Dsrtester", PHRASE]
PORTAL = "/api/v1/portal/acme"


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox)


def _hits(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [n for n in NEEDLES if n.lower().encode() in lowered]


def _database_bytes(database_template: DatabaseTemplate, database_url: str) -> bytes:
    if database_template.backend == "sqlite":
        path = Path(database_url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    return subprocess.run(["pg_dump", "--no-owner", dsn], capture_output=True, check=True).stdout


async def _verified_session(
    client: httpx.AsyncClient, rt: Runtime, box: MailBox, email: str
) -> str:
    asked = await client.post(f"{PORTAL}/link", json={"email": email})
    assert asked.status_code == 202, asked.text
    await run_jobs(rt)
    await box.wait_for(1)
    mine = [m for m, to in zip(box.messages, box.recipients, strict=True) if to == [email]]
    assert len(mine) == 1
    verified = await client.post(f"{PORTAL}/verify", json={"token": portal_token(mine[0])})
    assert verified.status_code == 200, verified.text
    session: str = verified.json()["session"]
    return session


async def test_portal_erasure_end_to_end_with_a_signed_receipt_and_no_readable_trace(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    mailbox: MailBox,
    database_template: DatabaseTemplate,
    database_url: str,
    data_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = await admin(world)
    await identified_visitor(client, headers)
    # The same person on another device: a second visitor with the same address.
    await identified_visitor(client, headers, text="From my phone")
    page = await client.get("/privacy/acme")
    assert page.status_code == 200 and "<script>" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    session = await _verified_session(client, rt, mailbox, EMAIL)
    filed = await client.post(
        f"{PORTAL}/requests",
        json={"kind": "erasure"},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert filed.status_code == 201, filed.text
    case_id = filed.json()["case_id"]
    listed = (await client.get("/api/v1/dsr/cases", headers=headers)).json()["cases"]
    assert [(c["id"], c["status"], c["subject_known"], c["channel"]) for c in listed] == [
        (case_id, "verified", True, "portal")
    ]

    pre_erasure = tmp_path / "pre-erasure.bin"
    pre_erasure.write_bytes(_database_bytes(database_template, database_url))
    done = await client.post(f"/api/v1/dsr/cases/{case_id}/carry-out", json={}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    receipt = (await client.get(f"/api/v1/dsr/cases/{case_id}/receipt", headers=headers)).json()
    assert receipt["receipt"]["actions"] == ["erased"]
    assert receipt["receipt"]["counts"]["conversations"] == 2
    published = (await client.get(f"{PORTAL}/public-key")).json()["public_key"]
    assert verify_receipt(receipt, published)

    # The receipt reaches the person and the admin; then the outbox holds nothing.
    sent = len(mailbox.messages)
    await run_jobs(rt)
    await mailbox.wait_for(sent + 2)
    assert sorted(r[0] for r in mailbox.recipients[sent:]) == sorted([EMAIL, ADMIN_EMAIL])
    assert case_id in mailbox.body(sent)

    # Forensics: the database, its files, the data directory, the logs, and the copy taken
    # before the erasure hold none of the person's strings in readable form.
    assert _hits((await every_row_as_text(rt)).encode()) == []
    assert _hits(_database_bytes(database_template, database_url)) == []
    assert _hits(pre_erasure.read_bytes()) == []
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert _hits(path.read_bytes()) == [], path
    assert _hits("\n".join(r.getMessage() for r in caplog.records).encode()) == []

    # Anyone can check the receipt offline; one byte changed and it fails.
    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(receipt))
    assert (await asyncio.to_thread(_verify_cli, good)).returncode == 0
    raw = bytearray(good.read_bytes())
    at = raw.index(b'"outcome"') + len(b'"outcome": "')
    raw[at] = ord("C") if raw[at] != ord("C") else ord("D")
    bad = tmp_path / "tampered.json"
    bad.write_bytes(bytes(raw))
    assert (await asyncio.to_thread(_verify_cli, bad)).returncode == 1
    assert not verify_receipt(json.loads(bad.read_text()))


def _verify_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confide", "dsr", "verify-receipt", str(path)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_portal_answers_known_and_unknown_addresses_alike(
    world: World, client: httpx.AsyncClient, rt: Runtime, mailbox: MailBox
) -> None:
    await identified_visitor(client, await admin(world))
    known = await client.post(f"{PORTAL}/link", json={"email": EMAIL})
    unknown = await client.post(f"{PORTAL}/link", json={"email": "nobody.here@example.invalid"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 202
    # Both get a link (proving an address reveals nothing); filing works the same way.
    session = await _verified_session(client, rt, mailbox, "someone.else@example.invalid")
    filed = await client.post(
        f"{PORTAL}/requests",
        json={"kind": "access"},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert filed.status_code == 201 and set(filed.json()) == {"case_id", "kind", "status", "due_at"}


async def test_a_link_works_once_expires_in_30_minutes_and_dies_after_5_wrong_guesses(
    world: World, client: httpx.AsyncClient, rt: Runtime, mailbox: MailBox
) -> None:
    await admin(world)
    tokens = []
    for address in ("one@example.invalid", "two@example.invalid", "three@example.invalid"):
        assert (await client.post(f"{PORTAL}/link", json={"email": address})).status_code == 202
    await run_jobs(rt)
    tokens = [portal_token(m) for m in await mailbox.wait_for(3)]
    used, stale, guessed = tokens

    assert (await client.post(f"{PORTAL}/verify", json={"token": used})).status_code == 200
    again = await client.post(f"{PORTAL}/verify", json={"token": used})
    assert (again.status_code, again.json()["error"]["code"]) == (401, "portal_link_invalid")

    link_id = guessed.split(".")[0]
    for attempt in range(5):
        wrong = await client.post(f"{PORTAL}/verify", json={"token": f"{link_id}.wrong{attempt}x"})
        assert wrong.status_code == 401
    assert (await client.post(f"{PORTAL}/verify", json={"token": guessed})).status_code == 401

    clock.advance(31 * 60)
    assert (await client.post(f"{PORTAL}/verify", json={"token": stale})).status_code == 401


async def test_portal_links_are_rate_limited_per_client(
    world: World, client: httpx.AsyncClient
) -> None:
    await admin(world)
    for n in range(5):
        ok = await client.post(f"{PORTAL}/link", json={"email": f"p{n}@example.invalid"})
        assert ok.status_code == 202
    limited = await client.post(f"{PORTAL}/link", json={"email": "p9@example.invalid"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers


async def test_portal_links_are_rate_limited_per_address(world: World, rt: Runtime) -> None:
    from confide.core.errors import TooManyRequests
    from confide.privacy.requests.portal import do_request_portal_link

    await admin(world)
    for n in range(5):
        await do_request_portal_link(
            rt, workspace_slug="acme", email="same@example.invalid", client_key=f"client-{n}"
        )
    with pytest.raises(TooManyRequests):
        await do_request_portal_link(
            rt, workspace_slug="acme", email="SAME@example.invalid", client_key="client-9"
        )


async def test_filing_needs_a_verified_session(world: World, client: httpx.AsyncClient) -> None:
    await admin(world)
    forged = await client.post(
        f"{PORTAL}/requests",
        json={"kind": "erasure"},
        headers={"Authorization": "Bearer 00000000000000000000000000000000.forged"},
    )
    assert forged.status_code == 401
    missing = await client.post(f"{PORTAL}/requests", json={"kind": "erasure"})
    assert missing.status_code == 401


async def test_a_session_files_one_request_and_the_link_is_gone_with_its_key(
    world: World, client: httpx.AsyncClient, rt: Runtime, mailbox: MailBox
) -> None:
    from sqlalchemy import select

    from confide.privacy.requests.models import PortalLink

    await admin(world)
    session = await _verified_session(client, rt, mailbox, "once@example.invalid")
    bearer = {"Authorization": f"Bearer {session}"}
    first = await client.post(f"{PORTAL}/requests", json={"kind": "access"}, headers=bearer)
    assert first.status_code == 201
    second = await client.post(f"{PORTAL}/requests", json={"kind": "erasure"}, headers=bearer)
    assert second.status_code == 401
    async with rt.db.session() as db:
        assert (await db.scalars(select(PortalLink))).all() == []
