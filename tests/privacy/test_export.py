"""Access/portability exports through the public API: the ZIP holds every table the subject data
map exports, ``data.json`` is valid against the shipped schema, every file matches the
manifest, CSV cells cannot run as formulas, transcripts run no script, the ZIP is sealed at
rest, links expire and refuse tampering, and other workspaces are refused."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import select, update

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.chat.models import Conversation, ConversationLifecycle, Visitor
from confide.core import clock
from confide.core.config import Settings
from confide.core.errors import KeyUnavailable
from confide.jobs.kinds import Batch
from confide.privacy import export, export_walk
from confide.privacy.consent_proof import verify_proof
from confide.privacy.erasure import do_erase_subject
from confide.privacy.export import SCHEMA_PATH, build_subject_export
from confide.privacy.export_store import (
    EXPORT_TTL_SECONDS,
    LINK_TTL_SECONDS,
    PURGE_SUBJECT_EXPORTS,
    export_store,
    purge_expired_exports,
    read_sealed,
    sign_link,
)
from confide.privacy.export_walk import exported_tables
from confide.privacy.key_cache import destroy_keys
from confide.privacy.subject_map import SUBJECT_MAP, SubjectRef
from confide.runtime import Runtime
from tests.audit.test_coverage import _confide
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.privacy.helpers import admin_headers
from tests.privacy.test_erasure import EMAIL, SMS_PHONE, _touch_every_visitor_table

FORMULA = '=HYPERLINK("http://evil.invalid","click")'
SCRIPT = "<script>alert('owned')</script><img src=x onerror=alert(1)>"
VISITOR_OWNERS = ("visitor", "subject", "conversation", "message")
OPERATOR_OWNERS = ("operator", "subject", "auth_session")


async def _export(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(f"/api/v1{path}", headers=headers, json=body or None)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _download(client: httpx.AsyncClient, url: str) -> zipfile.ZipFile:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    return zipfile.ZipFile(io.BytesIO(response.content))


def _check_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    manifest = json.loads(archive.read("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], path
        assert len(data) == entry["size_bytes"], path
    return manifest


def _validate(archive: zipfile.ZipFile) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(archive.read("data.json"))
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
    assert json.loads(archive.read("export_schema.json")) == schema
    assert "ck1:" not in archive.read("data.json").decode()  # every sealed value was opened
    return document


async def test_visitor_export_holds_every_exported_table_valid_and_safe(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    visitor, _key, web_id, sms_id = await _touch_every_visitor_table(world, client, admin)
    # One open chat at a time: the first ends before the second starts.
    mine = (await client.get("/api/v1/widget/conversations", headers=visitor.headers)).json()
    for listed in mine["conversations"]:
        path = f"/api/v1/widget/conversations/{listed['id']}/close"
        assert (await client.post(path, headers=visitor.headers)).status_code == 200
    chat = await start_chat(client, visitor, FORMULA)
    second = chat["conversation"]["id"]
    sent = await client.post(
        f"/api/v1/widget/conversations/{second}/messages",
        json={"client_id": uuid.uuid4().hex, "body": SCRIPT},
        headers=visitor.headers,
    )
    assert sent.status_code == 201, sent.text
    # No API archives or restricts yet (retention and request issues): set the flags directly.
    async with rt.db.transaction() as tx:
        await tx.execute(
            update(Conversation)
            .where(Conversation.id == uuid.UUID(second))
            .values(restricted=True, lifecycle=ConversationLifecycle.ARCHIVED)
        )

    tables: set[str] = set()
    for vid in (web_id, sms_id):
        made = await _export(client, f"/visitors/{vid}/export", admin)
        assert made["download_url"].startswith("/api/v1/exports/")
        response = await client.get(made["download_url"])
        assert hashlib.sha256(response.content).hexdigest() == made["sha256"]
        assert len(response.content) == made["size_bytes"]
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        _check_manifest(archive)
        document = _validate(archive)
        records = document["records"]
        assert {t: len(r["rows"]) for t, r in records.items()} == made["counts"]
        tables |= {t for t, r in records.items() if r["rows"]}
        for table, entry in records.items():
            if entry["rows"]:
                rows = list(csv.reader(io.StringIO(archive.read(f"csv/{table}.csv").decode())))
                assert rows[0] == [*entry["columns"], "_marks"]
                assert len(rows) == len(entry["rows"]) + 1
        assert verify_proof(json.loads(archive.read("consent_proof.json")))
        if vid == web_id:
            web = (archive, document)

    exportable = {
        name
        for name, entry in exported_tables()
        for reach in entry.reach
        if reach.owner in VISITOR_OWNERS
    }
    assert tables == exportable, exportable - tables
    assert {n for n, e in SUBJECT_MAP.items() if e.export == "exclude"}.isdisjoint(tables)

    archive, document = web
    records = document["records"]
    fields = {r["name"]: r["value"] for r in records["personal_fields"]["rows"]}
    assert fields["email"] == EMAIL
    texts = {r["body"] for r in records["message_texts"]["rows"]}
    assert {"My parcel number is secret-4471", FORMULA, SCRIPT} <= texts
    assert [r["body_sealed"] for r in records["conversation_notes"]["rows"]] == ["VIP"]
    marked = [r for r in records["conversations"]["rows"] if r.get("_marks")]
    assert [(r["id"], r["_marks"]) for r in marked] == [(second, ["archived", "restricted"])]
    assert all(
        r["_marks"] == ["archived", "restricted"]
        for r in records["messages"]["rows"]
        if r["conversation_id"] == second
    )
    assert records["audit_events"]["export"] == "as_pseudonym"
    # CSV: the formula is text, not a formula; the CSV parses back to the escaped cell.
    message_csv = archive.read("csv/message_texts.csv").decode()
    cells = [cell for row in csv.reader(io.StringIO(message_csv)) for cell in row]
    assert "'" + FORMULA in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    # Transcripts: static, escaped, strict CSP; one per conversation, the archived one marked.
    transcripts = [n for n in archive.namelist() if n.startswith("transcripts/")]
    assert len(transcripts) == 2
    for name in transcripts:
        page = archive.read(name).decode()
        assert "<script" not in page.lower() and "<img" not in page.lower()
        assert "Content-Security-Policy" in page and "default-src 'none'" in page
    page = archive.read(f"transcripts/{second}.html").decode()
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page
    assert "archived" in page and "restricted" in page

    async with rt.db.session() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("subject.export%"))
            )
        ).all()
    assert sorted(actions) == ["subject.export"] * 2 + ["subject.export_download"] * 2


async def test_export_is_sealed_at_rest_and_dies_with_the_subject(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Unmistakable-words-kangaroo-9931")
    visitor_id = chat["conversation"]["visitor_id"]
    made = await _export(client, f"/visitors/{visitor_id}/export", admin)
    blobs = list((Path(rt.settings.data_dir) / "exports").rglob("*"))
    sealed = [b for b in blobs if b.is_file()]
    assert len(sealed) == 1 and sealed[0].stat().st_mode & 0o777 == 0o600
    assert b"kangaroo" not in sealed[0].read_bytes()
    assert b"PK\x03\x04" not in sealed[0].read_bytes()  # not even the ZIP structure shows
    archive = await _download(client, made["download_url"])
    assert b"kangaroo" in archive.read("data.json")

    assert (await client.post(f"/api/v1/visitors/{visitor_id}/erase", headers=admin)).is_success
    gone = await client.get(made["download_url"])
    assert gone.status_code == 410, gone.text
    again = await client.post(f"/api/v1/visitors/{visitor_id}/export", headers=admin)
    assert again.status_code == 404


async def test_an_erasure_by_another_process_leaves_no_export_to_download(
    world: World, client: httpx.AsyncClient, rt: Runtime, settings: Settings
) -> None:
    """The command line erases in its own process: this server's key cache has not heard of
    it (no Redis on one SQLite node), yet neither the file nor a cached key serves the ZIP."""
    admin = await admin_headers(world)
    people = []
    for words in ("first-person-walrus-1180", "second-person-heron-2291"):
        chat = await start_chat(client, await new_visitor(client), words)
        made = await _export(
            client, f"/visitors/{chat['conversation']['visitor_id']}/export", admin
        )
        await _download(client, made["download_url"])  # this process now caches the key
        people.append((uuid.UUID(chat["conversation"]["visitor_id"]), made["download_url"]))
    exports_dir = Path(rt.settings.data_dir) / "exports"
    assert len([b for b in exports_dir.rglob("*") if b.is_file()]) == 2

    other = Runtime.from_settings(settings)  # another process: its own caches and broker
    await other.prepare()
    try:
        (first, first_url), (second, second_url) = people
        await do_erase_subject(other, None, "visitor", first)
        async with rt.db.session() as session:
            subject = await session.scalar(select(Visitor.subject_id).where(Visitor.id == second))
        assert subject is not None
        # The erasure deleted the first person's export and kept the other's.
        assert len([b for b in exports_dir.rglob("*") if b.is_file()]) == 1
        assert (await client.get(first_url)).status_code == 410
        # A key destroyed elsewhere while the file stays: still refused, not served from
        # this process's cache.
        await destroy_keys(other, [subject])
        assert (await client.get(second_url)).status_code == 410
    finally:
        await other.close()


async def test_links_expire_and_refuse_tampering(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Hello")
    made = await _export(client, f"/visitors/{chat['conversation']['visitor_id']}/export", admin)
    url = made["download_url"]
    body, signature = url.rsplit("/", 1)[1].split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (f"{body}.{flipped}", f"{body[:-1]}x.{signature}", body, "nonsense"):
        refused = await client.get(f"/api/v1/exports/{bad}")
        assert refused.status_code == 404, bad
        assert refused.json()["error"]["field"] == "token"
    try:
        clock.advance(LINK_TTL_SECONDS + 1)
        expired = await client.get(url)
        assert expired.status_code == 404
    finally:
        clock.reset()
    # A valid link to an export past its own expiry: gone, whatever the link says.
    result = await build_subject_export(
        rt,
        None,
        SubjectRef("visitor", uuid.UUID(chat["conversation"]["visitor_id"])),
        ttl_seconds=60,
    )
    token, _ = sign_link(rt, result.key, result.subject_id, result.workspace_id, "test")
    try:
        clock.advance(61)
        assert (await client.get(f"/api/v1/exports/{token}")).status_code == 410
    finally:
        clock.reset()
    assert (await client.get(url)).status_code == 200
    served = await client.get("/api/v1/exports/schema.json")  # public: it names no one
    assert served.status_code == 200 and served.json() == json.loads(SCHEMA_PATH.read_text())


async def test_other_workspaces_and_roles_are_refused(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await admin_headers(world)
    other_admin = await world.headers(await world.operator("olga", Role.ADMIN, slug="globex"))
    agent = await world.headers(await world.operator("ann", Role.AGENT))
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Mine only")
    path = f"/api/v1/visitors/{chat['conversation']['visitor_id']}/export"
    assert (await client.post(path, headers=other_admin)).status_code == 404
    assert (await client.post(path, headers=agent)).status_code == 403
    assert (
        await client.post(f"/api/v1/visitors/{uuid.uuid4()}/export", headers=admin)
    ).status_code == 404
    by_email = await client.post(
        "/api/v1/subjects/export", json={"email": "nobody@example.invalid"}, headers=admin
    )
    assert by_email.status_code == 404
    both = await client.post(
        "/api/v1/subjects/export", json={"email": "a@example.invalid", "phone": "1"}, headers=admin
    )
    assert both.status_code == 422


async def test_operator_and_phone_exports(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    _, _, _, sms_id = await _touch_every_visitor_table(world, client, admin)
    by_phone = await _export(client, "/subjects/export", admin, phone=SMS_PHONE)
    assert [(e["kind"], e["id"]) for e in by_phone["exports"]] == [("visitor", sms_id)]
    support = await world.group("Support")
    cy = await world.operator("cy", Role.AGENT, groups=[support], name="Cy Operator")
    own = await client.post(  # saved_replies (personal)
        "/api/v1/saved-replies",
        json={"shortcut": "bye", "body": "+Bye from Cy"},
        headers=await world.headers(cy),
    )
    assert own.status_code == 201, own.text
    made = await _export(client, f"/operators/{cy.id}/export", admin)
    archive = await _download(client, made["download_url"])
    _check_manifest(archive)
    document = _validate(archive)
    assert document["subject"]["kind"] == "operator"
    operators = document["records"]["operators"]["rows"]
    assert [r["username"] for r in operators] == ["cy"]
    assert "password_hash" not in operators[0]
    fields = {r["name"]: r["value"] for r in document["records"]["personal_fields"]["rows"]}
    assert fields["name"] == "Cy Operator"
    assert not [n for n in archive.namelist() if n.startswith("transcripts/")]
    filled = {t for t, r in document["records"].items() if r["rows"]}
    operator_tables = {
        name for name, entry in exported_tables() for r in entry.reach if r.owner in OPERATOR_OWNERS
    }
    assert {"operators", "personal_fields", "group_members", "saved_replies"} <= filled
    assert filled <= operator_tables
    replies = csv.reader(io.StringIO(archive.read("csv/saved_replies.csv").decode()))
    assert "'+Bye from Cy" in [cell for row in replies for cell in row]


async def _open(rt: Runtime, key: str) -> zipfile.ZipFile:
    data = b"".join([chunk async for chunk in read_sealed(rt, export_store(rt), key)])
    return zipfile.ZipFile(io.BytesIO(data))


async def test_an_altered_or_cut_short_export_does_not_open(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    await world.workspace()
    chat = await start_chat(client, await new_visitor(client), "Sealed in chunks")
    ref = SubjectRef("visitor", uuid.UUID(chat["conversation"]["visitor_id"]))
    key = (await build_subject_export(rt, None, ref)).key
    blob = next(p for p in (Path(rt.settings.data_dir) / "exports").rglob("*") if p.is_file())
    sealed = blob.read_bytes()
    assert (await _open(rt, key)).testzip() is None
    for broken in (sealed[:-1] + bytes([sealed[-1] ^ 1]), sealed[:-20]):
        blob.write_bytes(broken)
        with pytest.raises(KeyUnavailable):
            await _open(rt, key)


@pytest.mark.parametrize("batch", [1, 2])
async def test_small_batches_without_memo_export_the_same_files(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    batch: int,
) -> None:
    await world.workspace()
    visitor = await new_visitor(client)
    for n in range(3):  # one open chat at a time: each ends before the next
        chat = await start_chat(client, visitor, f"Chat {n}")
        cid = chat["conversation"]["id"]
        await client.post(f"/api/v1/widget/conversations/{cid}/close", headers=visitor.headers)
    ref = SubjectRef("visitor", uuid.UUID(chat["conversation"]["visitor_id"]))
    # No cached key: the record of a command-line export seals under the subject's key on the
    # workspace's chain, whatever another act left in the cache.
    monkeypatch.setattr(rt.keyring, "dek_cache_enabled", False)
    rt.keyring.forget()
    whole = await _open(rt, (await build_subject_export(rt, None, ref)).key)
    async with rt.db.session() as session:
        recorded = (
            await session.execute(
                select(AuditEvent.workspace_id, AuditEvent.actor_kind).where(
                    AuditEvent.action == "subject.export"
                )
            )
        ).all()
    assert recorded == [(await world.workspace(), "system")]
    monkeypatch.setattr(export_walk, "ROW_BATCH", batch)
    monkeypatch.setattr(export_walk, "ID_CHUNK", batch)
    monkeypatch.setattr(export, "MEMO_BUDGET_BYTES", 0)  # the CSV pass reads again
    small = await _open(rt, (await build_subject_export(rt, None, ref)).key)
    # The first export's own record is the only difference.
    assert set(whole.namelist()) | {"csv/audit_events.csv"} == set(small.namelist())
    for name in whole.namelist():
        if name.startswith(("transcripts/", "csv/")) and "audit" not in name:
            assert whole.read(name) == small.read(name), name
    before, after = (json.loads(z.read("data.json"))["records"] for z in (whole, small))
    assert len(after.pop("audit_events")["rows"]) == len(before.pop("audit_events")["rows"]) + 1
    assert before == after and len(before["messages"]["rows"]) == 3


async def test_cli_writes_a_private_zip_and_never_overwrites(
    world: World, client: httpx.AsyncClient, rt: Runtime, data_dir: Path, database_url: str
) -> None:
    await world.workspace()
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "From the command line")
    target = data_dir.parent / "visitor.zip"
    args = ("subjects", "export", "--visitor", chat["conversation"]["visitor_id"])
    done = await asyncio.to_thread(_confide, data_dir, database_url, *args, "--output", str(target))
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(target) as archive:
        _check_manifest(archive)
        texts = _validate(archive)["records"]["message_texts"]["rows"]
        assert [r["body"] for r in texts] == ["From the command line"]
    again = await asyncio.to_thread(
        _confide, data_dir, database_url, *args, "--output", str(target)
    )
    assert again.returncode == 2 and "exists" in again.stdout


async def test_expired_exports_are_purged(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    await world.workspace()
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Short-lived")
    ref = SubjectRef("visitor", uuid.UUID(chat["conversation"]["visitor_id"]))
    result = await build_subject_export(rt, None, ref)
    assert await purge_expired_exports(rt) == 0
    try:
        clock.advance(EXPORT_TTL_SECONDS + 1)
        ran = await PURGE_SUBJECT_EXPORTS.run_batch(
            Batch(rt, uuid.uuid4(), {}, None, PURGE_SUBJECT_EXPORTS.batch_size)
        )
    finally:
        clock.reset()
    assert (ran.items, ran.done) == (1, True)
    assert await export_store(rt).info(result.key) is None
