"""Access and portability export of one data subject (GDPR Art. 15 and 20): one ZIP.

What the ZIP holds (``docs/privacy.md`` and ``export_schema.json`` describe it):

- ``data.json``: every record the subject data map exports, per table, with the table's purpose
  and legal basis; valid against ``export_schema.json`` (shipped in the ZIP too, and served at
  ``GET /api/v1/exports/schema.json``);
- ``csv/<table>.csv``: the same records, one file per record type, formula-injection safe;
- ``transcripts/<conversation>.html``: each conversation, readable, static (no script);
- ``consent_proof.json``: the visitor's consent decisions, signed (``consent_proof``);
- ``manifest.json``: the SHA-256 and size of every other file.

How: the rows come from walking the map (``confide.privacy.export_walk``), sealed values are
opened through the one access path (``confide.privacy.access``), and the ZIP is streamed,
entry by entry, straight into a sealed blob (``confide.privacy.export_store``): memory stays
bounded by a batch of rows and a few frames, whatever the subject's size. Records are read
twice (``data.json``, then the CSV files) unless the subject's records fit in
``MEMO_BUDGET_BYTES``, in which case the second pass reuses the first.

One record (``subject.export``, naming the subject, with the export's key, size, SHA-256
and counts) is appended after the ZIP is stored; if it cannot be appended the ZIP is deleted
and nothing is returned. Each download is recorded again (``subject.export_download``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Action, Principal, authorize, ensure_same_workspace
from confide.audit.ledger import Actor
from confide.chat.models import Visitor
from confide.core.clock import utcnow
from confide.core.db import Base
from confide.core.errors import Gone, NotFound
from confide.privacy import export_files as files
from confide.privacy.access import SubjectDataReader, record_subject_export
from confide.privacy.consent_proof import signed_proof
from confide.privacy.export_store import (
    EXPORT_TTL_SECONDS,
    LINK_TTL_SECONDS,
    export_store,
    open_export_download,
    seal_stream,
    sign_link,
)
from confide.privacy.export_walk import (
    MARKS_COLUMN,
    TranscriptCursor,
    Walk,
    conversations_of,
    exported_columns,
    exported_tables,
    open_walk,
    table_rows,
    transcript_messages,
)
from confide.privacy.models import Subject
from confide.privacy.subject_map import SubjectRef
from confide.privacy.vault import TEXTS_TABLE, check_lookup

if TYPE_CHECKING:
    from confide.runtime import Runtime

EXPORT_FORMAT = "confide-subject-export/1"
MANIFEST_FORMAT = "confide-export-manifest/1"
SCHEMA_PATH = Path(__file__).with_name("export_schema.json")
MEMO_BUDGET_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ExportResult:
    """A stored, sealed export: its blob ``key`` (in ``export_store``), the plaintext ZIP's
    ``size_bytes`` and ``sha256`` (hex), rows per record type (``counts``: table -> rows),
    and when it was made and is deleted (UTC)."""

    key: str
    size_bytes: int
    sha256: str
    counts: dict[str, int]
    created_at: datetime
    expires_at: datetime
    subject: SubjectRef
    subject_id: uuid.UUID
    workspace_id: uuid.UUID


async def _find(session: AsyncSession, subject: SubjectRef) -> tuple[uuid.UUID, uuid.UUID]:
    table = Base.metadata.tables["visitors" if subject.kind == "visitor" else "operators"]
    row = (
        await session.execute(
            select(table.c.subject_id, table.c.workspace_id, Subject.erased_at)
            .join(Subject, Subject.id == table.c.subject_id)
            .where(table.c.id == subject.person_id)
        )
    ).first()
    if row is None or row[1] is None:
        raise NotFound(f"No such {subject.kind} in this workspace.")
    if row[2] is not None:
        raise Gone("This person has been erased; there is nothing left to export.")
    return row[0], row[1]


async def build_subject_export(
    rt: Runtime,
    principal: Principal | None,
    subject: SubjectRef,
    *,
    ttl_seconds: int = EXPORT_TTL_SECONDS,
) -> ExportResult:
    """Build, seal and store the access/portability ZIP of ``subject`` (see the module doc).

    ``principal``: an admin of the subject's workspace (``None``: the command line). Raises
    ``NotFound`` (404) for an unknown person or another workspace, ``Gone`` (410) for an
    erased one, ``Forbidden`` (403) for a non-admin, ``AuditUnavailable`` (503) when the
    record cannot be appended (the ZIP is then deleted)."""
    store = export_store(rt)
    async with rt.db.session() as session:
        if not rt.db.is_sqlite:  # one snapshot for every query (SQLite's read transaction is)
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        subject_id, workspace_id = await _find(session, subject)
        if principal is not None:
            authorize(principal, Action.SUBJECTS_EXPORT)
            ensure_same_workspace(principal, workspace_id)
        created = utcnow().replace(microsecond=0)
        expires = created + timedelta(seconds=ttl_seconds)
        key = f"{workspace_id}/{uuid.uuid4()}.zip.sealed"
        reader = SubjectDataReader(rt, workspace_id, subject_id)
        walk = await open_walk(session, reader, subject, subject_id)
        builder = _ZipBuilder(rt, walk, workspace_id, subject_id, created, expires)
        try:
            await store.put(
                key, seal_stream(rt, key, workspace_id, subject_id, expires, builder.stream())
            )
        except BaseException:
            await store.delete(key)
            raise
    result = ExportResult(
        key,
        builder.size_bytes,
        builder.digest.hexdigest(),
        dict(builder.counts),
        created,
        expires,
        subject,
        subject_id,
        workspace_id,
    )
    try:
        async with rt.db.transaction() as tx:
            await record_subject_export(
                tx,
                rt,
                # The command line acts on the workspace's chain: the workspace's admins see
                # that its data subject was exported (and the details seal under their key).
                principal if principal is not None else Actor("system", None, workspace_id),
                subject_id,
                action="subject.export",
                resource=f"{subject.kind}:{subject.person_id}",
                details={
                    "key": key,
                    "size_bytes": result.size_bytes,
                    "sha256": result.sha256,
                    "counts": result.counts,
                    "expires_at": expires.isoformat(),
                },
            )
    except BaseException:
        await store.delete(key)
        raise
    return result


async def subjects_by(
    rt: Runtime,
    principal: Principal | None,
    workspace_id: uuid.UUID,
    field_name: str,
    value: str,
) -> list[SubjectRef]:
    """Every visitor and operator of the workspace whose ``field_name`` (``email`` or
    ``phone``) matches ``value``, found through the vault's blind index (never a scan), as
    erasure finds them. Raises ``NotFound`` (404) when nobody matches, ``ValidationFailed``
    (422) for another field or an empty value, ``Forbidden``/``NotFound`` as the export does."""
    if principal is not None:
        authorize(principal, Action.SUBJECTS_EXPORT)
        ensure_same_workspace(principal, workspace_id)
    check_lookup(field_name, value)
    async with rt.db.session() as session:
        subject_ids = await rt.vault.find_subjects(
            session, workspace_id=workspace_id, field=field_name, value=value
        )
        people: list[SubjectRef] = []
        for kind in ("visitor", "operator"):
            table = Base.metadata.tables[f"{kind}s"]
            rows = await session.scalars(
                select(table.c.id).where(table.c.subject_id.in_(subject_ids))
            )
            people.extend(SubjectRef(kind, person_id) for person_id in rows.all())
    if not people:
        raise NotFound("Nobody in this workspace has that e-mail address or phone number.")
    return people


def download_link(
    rt: Runtime,
    principal: Principal | None,
    result: ExportResult,
    *,
    ttl_seconds: int = LINK_TTL_SECONDS,
) -> tuple[str, datetime]:
    """A signed download token for ``result`` and its expiry: ``ttl_seconds`` from now, never
    later than the export itself."""
    left = int((result.expires_at - utcnow()).total_seconds())
    if principal is None:
        issued_by = "cli"
    else:
        who = principal.operator_id or principal.api_key_id or principal.visitor_id
        issued_by = f"{principal.kind}:{who}"
    return sign_link(
        rt,
        result.key,
        result.subject_id,
        result.workspace_id,
        issued_by,
        ttl_seconds=max(1, min(ttl_seconds, left)),
    )


async def save_subject_export(rt: Runtime, result: ExportResult, path: Path) -> int:
    """Write the decrypted ZIP of ``result`` to ``path`` (created 0600, never replacing a
    file), recorded as a download (``subject.export_download``) like any link: the command
    line's way out. Returns the bytes written; raises ``FileExistsError`` when ``path``
    exists and what ``open_export_download`` raises."""
    token, _ = download_link(rt, None, result)
    _, chunks = await open_export_download(rt, token)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    with os.fdopen(fd, "wb") as handle:
        async for chunk in chunks:
            handle.write(chunk)
            written += len(chunk)
    return written


Producer = Callable[[], AsyncIterator[bytes]]


@dataclass
class _ZipBuilder:
    rt: Runtime
    walk: Walk
    workspace_id: uuid.UUID
    subject_id: uuid.UUID
    created: datetime
    expires: datetime
    counts: dict[str, int] = field(default_factory=dict)
    digest: Any = field(default_factory=hashlib.sha256)
    size_bytes: int = 0
    memo: dict[str, list[dict[str, Any]]] | None = field(default_factory=dict)
    _memo_bytes: int = 0
    _manifest: list[dict[str, Any]] = field(default_factory=list)

    def _take(self, sink: files.ZipSink) -> bytes:
        data = sink.take()
        self.digest.update(data)
        self.size_bytes += len(data)
        return data

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.created.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info._compresslevel = files.ZIP_COMPRESS_LEVEL  # type: ignore[attr-defined]  # 3.11: private
        info.external_attr = 0o600 << 16
        return info

    async def stream(self) -> AsyncIterator[bytes]:
        """The plaintext ZIP, drained at least every ``ZIP_DRAIN_BYTES``."""
        sink = files.ZipSink()
        archive = zipfile.ZipFile(
            sink, "w", zipfile.ZIP_DEFLATED, compresslevel=files.ZIP_COMPRESS_LEVEL
        )
        async for name, producer in self._entries():
            entry_hash, entry_bytes = hashlib.sha256(), 0
            with archive.open(self._info(name), "w", force_zip64=True) as writer:
                async for piece in producer():
                    entry_hash.update(piece)
                    entry_bytes += len(piece)
                    writer.write(piece)
                    if sink.pending_bytes >= files.ZIP_DRAIN_BYTES:
                        yield self._take(sink)
            self._manifest.append(
                {"path": name, "sha256": entry_hash.hexdigest(), "size_bytes": entry_bytes}
            )
            if sink.pending_bytes:
                yield self._take(sink)
        manifest = {"format": MANIFEST_FORMAT, "algorithm": "sha256", "files": self._manifest}
        with archive.open(self._info("manifest.json"), "w") as writer:
            writer.write(files.json_bytes(manifest))
        archive.close()
        yield self._take(sink)

    async def _entries(self) -> AsyncIterator[tuple[str, Producer]]:
        """``(path, producer)`` of each file, produced lazily (counts are known by the CSVs)."""
        yield "data.json", self._data_json
        for name, _ in exported_tables():
            if self.counts.get(name):
                yield f"csv/{name}.csv", partial(self._csv, name)
        if self.walk.subject.kind == "visitor":
            memo = self.memo
            known = (
                {row["message_id"]: row["body"] for row in memo.get(TEXTS_TABLE, [])}
                if memo is not None
                else None
            )
            messages = TranscriptCursor(transcript_messages(self.walk, known))
            async for conversation in conversations_of(self.walk):
                path = f"transcripts/{conversation['id']}.html"
                yield path, partial(self._transcript, conversation, messages)
            yield "consent_proof.json", self._consent_proof
        yield "export_schema.json", self._schema

    async def _data_json(self) -> AsyncIterator[bytes]:
        subject = self.walk.subject
        head = {
            "format": EXPORT_FORMAT,
            "generated_at": self.created.isoformat(),
            "expires_at": self.expires.isoformat(),
            "workspace_id": str(self.workspace_id),
            "subject": {
                "kind": subject.kind,
                "id": str(subject.person_id),
                "subject_id": str(self.subject_id),
            },
        }
        yield files.json_bytes(head)[:-1] + b',"records":{'
        first = True
        for name, entry in exported_tables():
            if not self.walk.applies(name):
                continue
            meta = {
                "export": entry.export,
                "purpose": entry.purpose,
                "legal_basis": entry.legal_basis,
                "columns": exported_columns(name),
            }
            yield (b"" if first else b",") + files.json_bytes(name) + b":"
            yield files.json_bytes(meta)[:-1] + b',"rows":['
            first, count = False, 0
            async for batch in table_rows(self.walk, name):
                encoded = [files.json_bytes(row) for row in batch]
                yield (b"," if count else b"") + b",".join(encoded)
                count += len(batch)
                self._remember(name, batch, sum(map(len, encoded)))
            self.counts[name] = count
            yield b"]}"
        yield b"}}"

    def _remember(self, name: str, batch: list[dict[str, Any]], size_bytes: int) -> None:
        if self.memo is None:
            return
        self._memo_bytes += size_bytes
        if self._memo_bytes > MEMO_BUDGET_BYTES:
            self.memo = None  # too big to keep: the CSV pass reads again
            return
        self.memo.setdefault(name, []).extend(batch)

    async def _rows(self, name: str) -> AsyncIterator[list[dict[str, Any]]]:
        if self.memo is not None:
            yield self.memo.get(name, [])
            return
        async for batch in table_rows(self.walk, name):
            yield batch

    async def _csv(self, name: str) -> AsyncIterator[bytes]:
        columns = exported_columns(name)
        yield files.csv_lines([[*columns, MARKS_COLUMN]])
        async for batch in self._rows(name):
            yield files.csv_lines(
                [row.get(c) for c in columns] + [";".join(row.get(MARKS_COLUMN, []))]
                for row in batch
            )

    async def _transcript(
        self, conversation: dict[str, Any], messages: TranscriptCursor
    ) -> AsyncIterator[bytes]:
        conversation_id = conversation["id"]
        yield files.transcript_head(conversation, self.walk.marks.get(conversation_id, []))
        async for batch in messages.take(conversation_id):
            yield b"".join(files.transcript_message(*message) for message in batch)
        yield files.TRANSCRIPT_TAIL

    async def _consent_proof(self) -> AsyncIterator[bytes]:
        visitor = await self.walk.session.get(Visitor, self.walk.subject.person_id)
        assert visitor is not None  # found by _find in this session
        yield files.json_bytes(await signed_proof(self.rt, self.walk.session, visitor))

    async def _schema(self) -> AsyncIterator[bytes]:
        yield SCHEMA_PATH.read_bytes()
