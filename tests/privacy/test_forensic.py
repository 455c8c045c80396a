"""Forensics: no personal data rests in plaintext anywhere, and shredding a subject's keys makes
every copy unreadable, backups included."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from confide.access.models import Role
from confide.chat.models import Visitor
from confide.core.db import Database
from confide.privacy.vault import Vault
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import DatabaseTemplate, World

EMAIL = "forensic.zeta.quokka@example.invalid"
PHONE = "+44 20 7946 0958"
PHRASE = "purple-walrus-marmalade-7731"
NAME = "Quokka Forensicsson"
NEEDLES = [EMAIL, EMAIL.upper(), "zeta.quokka", "7946 0958", "79460958", PHRASE, "Forensicsson"]


def _hits(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [n for n in NEEDLES if n.lower().encode() in lowered]


def _pg_dump(url: str) -> bytes:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    return subprocess.run(["pg_dump", "--no-owner", dsn], capture_output=True, check=True).stdout


async def _plant(world: World, client: httpx.AsyncClient) -> tuple[str, str, dict[str, str]]:
    await world.group("Support")
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    key = (await client.post("/api/v1/api-keys", json={"name": "b"}, headers=admin)).json()["key"]
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, f"My secret is {PHRASE}, call me")
    identify = await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "email": EMAIL, "phone": PHONE, "name": NAME},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert identify.status_code == 200
    # Before shredding, an authorised agent reads everything back in clear.
    detail = await client.get(f"/api/v1/conversations/{chat['conversation']['id']}", headers=admin)
    assert detail.json()["visitor"]["email"] == EMAIL
    messages = await client.get(
        f"/api/v1/conversations/{chat['conversation']['id']}/messages", headers=admin
    )
    assert PHRASE in messages.json()["messages"][0]["body"]
    return visitor.vuid, chat["conversation"]["id"], admin


async def _plant_sms_thread(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """An SMS bridge names the thread by the visitor's phone number: it must not rest in clear."""
    from tests.chat.test_channels import hook, signed

    configured = await client.put(
        "/api/v1/channels/sms", json={"outbound_url": None, "enabled": True}, headers=admin
    )
    assert configured.status_code == 201, configured.text
    body = json.dumps(
        {"thread_id": PHONE.replace(" ", ""), "message_id": "sms-1", "text": "Hello by SMS"}
    ).encode()
    received = await hook(client, body, signed(configured.json()["signing_secret"], body))
    assert received.status_code == 200, received.text
    again = await hook(client, body, signed(configured.json()["signing_secret"], body))
    assert again.json()["duplicate"] is True  # found again through the keyed hash


async def test_no_plaintext_personal_data_in_files_dumps_or_logs(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    data_dir: Path,
    database_template: DatabaseTemplate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, _, admin = await _plant(world, client)
    await _plant_sms_thread(client, admin)
    if rt.db.is_sqlite:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
    found: dict[str, list[str]] = {}
    for path in data_dir.rglob("*"):
        if path.is_file() and (hits := _hits(path.read_bytes())):
            found[str(path.relative_to(data_dir))] = hits
    if database_template.backend == "postgres":
        if hits := _hits(_pg_dump(database_template.url)):
            found["pg_dump"] = hits
    if hits := _hits(caplog.text.encode()):
        found["logs"] = hits
    assert found == {}


async def test_shredded_subject_is_unreadable_through_the_api_and_in_an_older_backup(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    data_dir: Path,
    database_template: DatabaseTemplate,
    tmp_path: Path,
) -> None:
    vuid, conversation_id, admin = await _plant(world, client)
    backup_url = await _backup(rt, database_template, tmp_path)

    async with rt.db.session() as session:
        visitor = await session.scalar(select(Visitor).where(Visitor.vuid == vuid))
        assert visitor is not None
        subject_id = visitor.subject_id
    erased = await client.post(f"/api/v1/visitors/{visitor.id}/erase", headers=admin)
    assert erased.status_code == 200, erased.text

    detail = await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)
    assert detail.status_code == 404
    messages = await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=admin)
    assert messages.status_code == 404
    # Nothing readable of the person in the data directory (database, WAL, key store) or a dump.
    if rt.db.is_sqlite:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    for path in data_dir.rglob("*"):
        assert not (path.is_file() and _hits(path.read_bytes())), path.name
    if database_template.backend == "postgres":
        assert _hits(_pg_dump(database_template.url)) == []

    # The backup still holds the ciphertexts, but no key opens them any more.
    backup = Database(backup_url)
    try:
        vault = Vault(rt.secret, rt.keyring)
        async with backup.session() as session:
            raw = (await session.execute(text("SELECT value FROM personal_fields"))).scalars().all()
            assert raw and all(v.startswith("ck1:") for v in raw)
            assert await vault.read_fields(session, [subject_id]) == {subject_id: {}}
            ids = (await session.execute(text("SELECT message_id FROM message_texts"))).scalars()
            message_ids = [uuid.UUID(str(i)) for i in ids.all()]
            assert message_ids
            assert await vault.read_message_texts(session, message_ids) == {}
    finally:
        await backup.dispose()
        if database_template.backend == "postgres":
            name = backup_url.rsplit("/", 1)[1]
            admin_dsn = database_template.url.replace("postgresql+asyncpg://", "postgresql://")
            subprocess.run(
                [
                    "psql",
                    admin_dsn.rsplit("/", 1)[0] + "/postgres",
                    "-qc",
                    f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                ],
                check=True,
                capture_output=True,
            )


async def _backup(rt: Runtime, template: DatabaseTemplate, tmp_path: Path) -> str:
    if template.backend == "sqlite":
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        source = rt.db.url.split("///", 1)[1]
        copy = tmp_path / "backup.db"
        shutil.copy(source, copy)
        return f"sqlite+aiosqlite:///{copy}"
    dump = _pg_dump(template.url)
    name = f"confide_backup_{uuid.uuid4().hex[:8]}"
    admin_dsn = template.url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    subprocess.run(
        ["psql", f"{admin_dsn}/postgres", "-qc", f'CREATE DATABASE "{name}"'],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", f"{admin_dsn}/{name}", "-q"], input=dump, check=True, capture_output=True
    )
    return template.url.rsplit("/", 1)[0] + f"/{name}"
