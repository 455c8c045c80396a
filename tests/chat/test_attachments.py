"""Attachments: judged by content, images cleaned, sealed at rest, read through the policy and
the audit path, served through short-lived signed links, and gone with an erasure."""

from __future__ import annotations

import io
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from PIL import ExifTags, Image
from sqlalchemy import func, select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.chat.attachment_models import Attachment
from confide.chat.attachments import do_upload_attachment
from confide.chat.models import Conversation
from confide.chat.visitors import authenticate_visitor_token
from confide.core import clock
from tests.chat.attachment_helpers import (
    EXECUTABLE,
    EXIF_MARKER,
    PDF,
    SVG_WITH_SCRIPT,
    jpeg_with_gps,
    listed,
    operator_upload,
    png,
    widget_upload,
)
from tests.chat.helpers import new_visitor, start_chat
from tests.chat.test_scope import _set_state
from tests.conftest import World


def _blob_files(data_dir: Path) -> list[Path]:
    root = data_dir / "blobs" / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_jpeg_is_stored_without_its_exif_gps_and_with_a_thumbnail(
    world: World, data_dir: Path
) -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Look"))["conversation"]["id"]

    sent = await widget_upload(world.client, visitor, conversation_id, original, "IMG_0001.jpg")
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["message"]["kind"] == "file" and body["message"]["body"] == "IMG_0001.jpg"
    assert (body["attachment"]["kind"], body["attachment"]["file_type"]) == ("image", "jpeg")

    [item] = await listed(
        world.client, f"/api/v1/conversations/{conversation_id}/attachments", admin
    )
    assert item["message_id"] == body["message"]["id"] and item["name"] == "IMG_0001.jpg"
    full = await world.client.get(item["url"])
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    assert full.headers["content-disposition"].startswith("inline")
    stored = Image.open(io.BytesIO(full.content))
    assert stored.size == (800, 600)
    assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert len(stored.getexif()) == 0 and "exif" not in stored.info
    assert EXIF_MARKER.encode() not in full.content
    thumb = await world.client.get(item["thumbnail_url"])
    assert thumb.status_code == 200
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 320
    # At rest: two sealed blobs (image and thumbnail), neither holding the camera's words.
    files = _blob_files(data_dir)
    assert len(files) == 2
    assert all(EXIF_MARKER.encode() not in f.read_bytes() for f in files)
    assert all(f.read_bytes().startswith(b"CFS1") for f in files)


async def test_a_file_named_png_holding_a_program_is_refused_and_nothing_is_kept(
    world: World, data_dir: Path
) -> None:
    await world.workspace()
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    refused = await widget_upload(
        world.client,
        visitor,
        conversation_id,
        EXECUTABLE,
        "cute-cat.png",
        **{"content-type": "image/png"},
    )
    assert refused.status_code == 415
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("unsupported_file_type", "file")
    archive = await widget_upload(
        world.client, visitor, conversation_id, b"PK\x03\x04" + b"\0" * 40, "a.docx"
    )
    assert archive.status_code == 415
    # Starts like a PNG, but Pillow cannot decode it: the signature alone is not enough.
    fake = b"\x89PNG\r\n\x1a\n" + b"not really a picture " * 50
    damaged = await widget_upload(world.client, visitor, conversation_id, fake, "x.png")
    assert damaged.status_code == 415 and "damaged" in damaged.json()["error"]["message"]
    # A form upload would store the form itself as a text file: refused before reading.
    form = await world.client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        headers=visitor.headers,
        files={"file": ("note.txt", b"hello", "text/plain")},
    )
    assert form.status_code == 415 and form.json()["error"]["field"] == "content-type"
    assert _blob_files(data_dir) == []
    async with world.rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Attachment)) == 0


async def test_an_svg_with_script_is_never_served_and_documents_are_downloads_only(
    world: World, data_dir: Path
) -> None:
    await world.workspace()
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    for name in ("drawing.svg", "drawing.png", "notes.txt"):
        refused = await widget_upload(world.client, visitor, conversation_id, SVG_WITH_SCRIPT, name)
        assert refused.status_code == 415, name
    page = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    assert (
        await widget_upload(world.client, visitor, conversation_id, page, "a.txt")
    ).status_code == 415
    assert _blob_files(data_dir) == []

    sent = await widget_upload(world.client, visitor, conversation_id, PDF, "invoice.pdf")
    assert sent.status_code == 201, sent.text
    item = sent.json()["attachment"]
    assert item["kind"] == "document" and item["thumbnail_url"] is None
    served = await world.client.get(item["url"])
    assert served.status_code == 200 and served.content == PDF  # stored as it was sent
    assert served.headers["content-disposition"].startswith("attachment;")
    assert 'filename="invoice.pdf"' in served.headers["content-disposition"]
    assert served.headers["content-security-policy"].startswith("sandbox")
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_links_are_signed_and_short_lived(world: World) -> None:
    await world.workspace()
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    sent = await widget_upload(world.client, visitor, conversation_id, png(), "p.png")
    url = sent.json()["attachment"]["url"]
    assert (await world.client.get(url)).status_code == 200
    forged = url.replace("/file?", "/download?")  # the signature covers the variant
    assert (await world.client.get(forged)).status_code == 401
    other = url.replace(sent.json()["attachment"]["id"], str(uuid.uuid4()))
    assert (await world.client.get(other)).status_code == 401
    clock.advance(world.rt.settings.attachment_link_seconds + 1)
    expired = await world.client.get(url)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    # The visitor's own listing hands out fresh links.
    [fresh] = await listed(
        world.client, f"/api/v1/widget/conversations/{conversation_id}/attachments", visitor.headers
    )
    assert (await world.client.get(fresh["url"])).status_code == 200


async def test_each_opening_of_a_file_by_an_operator_is_recorded_naming_the_reader(
    world: World,
) -> None:
    await world.workspace()
    agent = await world.operator("ada", Role.ADMIN)
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    await widget_upload(world.client, visitor, conversation_id, png(), "p.png")
    [own] = await listed(
        world.client, f"/api/v1/widget/conversations/{conversation_id}/attachments", visitor.headers
    )
    assert (await world.client.get(own["url"])).status_code == 200  # the visitor's own file
    [file] = await listed(
        world.client,
        f"/api/v1/conversations/{conversation_id}/attachments",
        await world.headers(agent),
    )
    assert f"by=operator%3A{agent.id}" in file["url"]
    assert (await world.client.get(file["thumbnail_url"])).status_code == 200  # the preview
    assert (await world.client.get(file["url"])).status_code == 200
    assert (await world.client.get(file["download_url"])).status_code == 200
    # Handing the admin's link on as someone else's is a forgery: the reader is signed.
    relabelled = file["url"].replace(str(agent.id), str(uuid.uuid4()))
    assert (await world.client.get(relabelled)).status_code == 401
    async with world.rt.db.session() as session:
        rows = (
            await session.execute(
                select(AuditEvent.actor_kind, AuditEvent.actor_id).where(
                    AuditEvent.action == "attachment.download"
                )
            )
        ).all()
    # The file and the download, not the thumbnail and not the visitor's own opening.
    assert sorted(rows) == [("operator", agent.id), ("operator", agent.id)]
    async with world.rt.db.session() as session:
        conversation = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conversation is not None
        subjects = set(
            (
                await session.scalars(
                    select(AuditEvent.subject_id).where(AuditEvent.action == "attachment.download")
                )
            ).all()
        )
    assert len(subjects) == 1 and None not in subjects  # the visitor whose file it is


async def test_policy_other_group_agent_is_refused_and_archived_files_are_hidden(
    world: World,
) -> None:
    support = await world.group("Support")
    sales = await world.group("Sales")
    alice = await world.headers(await world.operator("alice", Role.AGENT, groups=[support]))
    bob = await world.headers(await world.operator("bob", Role.AGENT, groups=[sales]))
    visitor = await new_visitor(world.client)
    chat = await start_chat(world.client, visitor, "Hi", group_id=support)
    conversation_id = chat["conversation"]["id"]
    path = f"/api/v1/conversations/{conversation_id}/attachments"

    sent = await operator_upload(world.client, alice, conversation_id, png(), "screen.png")
    assert sent.status_code == 201, sent.text
    assert [a["name"] for a in await listed(world.client, path, alice)] == ["screen.png"]
    # The visitor sees the operator's file in the widget.
    widget = f"/api/v1/widget/conversations/{conversation_id}/attachments"
    assert [a["uploader"] for a in await listed(world.client, widget, visitor.headers)] == [
        "operator"
    ]
    # Another group's agent: neither list nor upload.
    assert (await world.client.get(path, headers=bob)).status_code == 404
    refused = await operator_upload(world.client, bob, conversation_id, png(), "x.png")
    assert refused.status_code == 404
    # Listing is recorded like a message read, naming the visitor's subject.
    async with world.rt.db.session() as session:
        reads = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "conversation.attachments_read")
        )
    assert reads == 1
    # Archived: agents no longer reach the files.
    await _set_state(world.rt, conversation_id, lifecycle="archived")
    assert (await world.client.get(path, headers=alice)).status_code == 404
    assert (await world.client.get(widget, headers=visitor.headers)).status_code == 404


async def test_workspace_limits_and_the_body_limit_answer_413_json(world: World) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    changed = await world.client.put(
        "/api/v1/workspace/attachment-settings",
        json={"enabled": True, "max_bytes": 4096, "allowed_types": ["png", "txt"]},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    big = b"plain words\n" * 1000
    too_big = await widget_upload(
        world.client, visitor, conversation_id, big, "big.txt", origin="https://shop.example"
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    assert too_big.headers["access-control-allow-origin"] == "https://shop.example"
    pdf = await widget_upload(world.client, visitor, conversation_id, PDF, "a.pdf")
    assert pdf.status_code == 415 and "pdf" in pdf.json()["error"]["message"]
    huge = b"x" * (world.rt.settings.attachment_max_bytes + 1)
    beyond = await widget_upload(
        world.client, visitor, conversation_id, huge, "huge.txt", origin="https://shop.example"
    )
    assert beyond.status_code == 413 and beyond.json()["error"]["code"] == "payload_too_large"
    assert beyond.headers["access-control-allow-origin"] == "https://shop.example"
    unknown = await world.client.put(
        "/api/v1/workspace/attachment-settings",
        json={"max_bytes": 4096, "allowed_types": ["exe"]},
        headers=admin,
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "allowed_types"


async def test_erasure_removes_every_attachment_file_and_thumbnail(
    world: World, data_dir: Path
) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    for data, name in ((jpeg_with_gps(), "a.jpg"), (png(), "b.png"), (PDF, "c.pdf")):
        response = await widget_upload(world.client, visitor, conversation_id, data, name)
        assert response.status_code == 201, response.text
    links = await listed(
        world.client, f"/api/v1/conversations/{conversation_id}/attachments", admin
    )
    assert len(_blob_files(data_dir)) == 5  # three files, two thumbnails
    async with world.rt.db.session() as session:
        first_id = (await session.scalars(select(Attachment.conversation_id))).first()
        conversation = await session.get(Conversation, first_id)
        assert conversation is not None
    erased = await world.client.post(
        f"/api/v1/visitors/{conversation.visitor_id}/erase", headers=admin
    )
    assert erased.status_code == 200, erased.text
    assert _blob_files(data_dir) == []
    async with world.rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Attachment)) == 0
    for item in links:  # links handed out before the erasure lead nowhere
        assert (await world.client.get(item["url"])).status_code == 404


async def test_a_large_document_streams_through_without_being_held_in_memory(
    world: World, data_dir: Path
) -> None:
    await world.workspace()
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    async with world.rt.db.session() as session:
        conversation = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conversation is not None
    principal = await authenticate_visitor_token(world.rt, visitor.token)
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    await world.client.put(
        "/api/v1/workspace/attachment-settings",
        json={"max_bytes": 25 * 1024 * 1024, "allowed_types": ["txt"]},
        headers=admin,
    )
    size = 20 * 1024 * 1024
    line = b"a line of a long log file, nothing personal in it\n"

    async def body() -> AsyncIterator[bytes]:  # made as it is sent, like a network stream
        sent = 0
        while sent < size:
            piece = (line * 1300)[: min(64 * 1024, size - sent)]
            sent += len(piece)
            yield piece

    tracemalloc.start()
    try:
        stored = await do_upload_attachment(
            world.rt, principal, conversation.id, name="big.log", chunks=body()
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored["attachment"]["size_bytes"] == size
    assert peak < size // 4, f"peak {peak} bytes for a {size}-byte upload"
    [blob] = _blob_files(data_dir)
    assert blob.stat().st_size > size  # sealed: every 64 KB chunk carries its tag


async def test_a_cross_origin_upload_may_send_the_file_name_header(world: World) -> None:
    await world.workspace()
    preflight = await world.client.options(
        f"/api/v1/widget/conversations/{uuid.uuid4()}/attachments",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-confide-filename",
        },
    )
    assert preflight.status_code == 204
    allowed = preflight.headers["access-control-allow-headers"]
    assert "x-confide-filename" in allowed and "authorization" in allowed


async def test_a_visitor_sending_files_too_fast_is_told_to_wait(world: World) -> None:
    await world.workspace()
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    for i in range(world.rt.settings.visitor_files_per_minute):
        sent = await widget_upload(world.client, visitor, conversation_id, b"note\n", f"{i}.txt")
        assert sent.status_code == 201, sent.text
    refused = await widget_upload(world.client, visitor, conversation_id, b"note\n", "x.txt")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
