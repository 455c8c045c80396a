"""Attachments at rest and the consent gate: no plaintext of an uploaded file anywhere on disk,
in a database dump or in the logs; a visitor who must consent and has not sends no file."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from confide.access.models import Role
from confide.runtime import Runtime
from tests.chat.attachment_helpers import listed, widget_upload
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import DatabaseTemplate, World
from tests.privacy.helpers import admin_headers, count_rows, decide, publish, set_privacy
from tests.privacy.test_forensic import _pg_dump

SECRET_LINE = "Tax number of Quokka Forensicsson: QX-9931-marmalade-4471"
NEEDLES = [b"QX-9931", b"marmalade-4471", b"Forensicsson", b"quokka-tax-notes"]


def _hits(blob: bytes) -> list[bytes]:
    lowered = blob.lower()
    return [n for n in NEEDLES if n.lower() in lowered]


async def test_no_plaintext_of_an_uploaded_text_file_on_disk_in_dumps_or_logs(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    data_dir: Path,
    database_template: DatabaseTemplate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    visitor = await new_visitor(client)
    conversation_id = (await start_chat(client, visitor, "Here it is"))["conversation"]["id"]
    content = (SECRET_LINE + "\n").encode() * 3000  # ~180 KB: several sealed chunks
    sent = await widget_upload(client, visitor, conversation_id, content, "quokka-tax-notes.txt")
    assert sent.status_code == 201, sent.text
    # An authorised reader gets it back whole.
    [item] = await listed(client, f"/api/v1/conversations/{conversation_id}/attachments", admin)
    assert item["name"] == "quokka-tax-notes.txt"
    assert (await client.get(item["url"])).content == content

    if rt.db.is_sqlite:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
    found: dict[str, list[bytes]] = {}
    for path in data_dir.rglob("*"):
        if path.is_file() and (hits := _hits(path.read_bytes())):
            found[str(path.relative_to(data_dir))] = hits
    if database_template.backend == "postgres":
        if hits := _hits(_pg_dump(database_template.url)):
            found["pg_dump"] = hits
    if hits := _hits(caplog.text.encode()):
        found["logs"] = hits
    assert found == {}
    assert len(list((data_dir / "blobs").rglob("*.txt"))) == 0  # names are ids, not file names


async def test_a_visitor_who_must_consent_and_has_not_cannot_send_a_file(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    text_ = "We keep this conversation for 3 years to answer you. OK?"
    await publish(client, admin, "chat", text_)
    await set_privacy(client, admin, consent_required=True)
    visitor = await new_visitor(client)
    assert (await decide(client, visitor, "chat", text_)).status_code == 201
    conversation_id = (await start_chat(client, visitor, "Hello"))["conversation"]["id"]
    withdrawn = await decide(
        client, visitor, "chat", text_, "withdrawn", conversation_id=conversation_id
    )
    assert withdrawn.status_code == 201
    refused = await widget_upload(client, visitor, conversation_id, b"some notes\n", "n.txt")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "consent_required"
    assert await count_rows(rt, "attachments") == 0
