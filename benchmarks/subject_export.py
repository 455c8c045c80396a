"""The access/portability export of one data subject in a large database, against plain SQL.

Value: seconds for ``build_subject_export`` on a visitor with 200 conversations and 2,000
messages (texts sealed under real conversation keys; name, e-mail and phone in the vault; the
same subject as ``benchmarks.erasure`` erases, built by ``benchmarks.seeding``) among
``TOTAL_MESSAGES`` messages of other people: the whole act, i.e. the walk over the subject data
map, every sealed value decrypted, ``data.json``, one CSV per record type, 200 HTML
transcripts, the signed consent proof, ``manifest.json``, the ZIP sealed chunk by chunk and
written to the blob store with fsync, and the ``subject.export`` audit record. Baseline: the
same rows (fields, visitor, conversations, messages, texts, connection logs, consent records)
read with hand-written indexed ``SELECT`` statements, no decryption and no file, measured in
the same run, alternating with the exports; median of ``RUNS``. Details also give the time to
stream the sealed ZIP back out decrypted (a download). SQLite, and PostgreSQL
(``CONFIDE_BENCH_POSTGRES_URL``) when reachable.

Scale: 1,000,000 messages in the database as issue 14 asks (``--quick``: 20,000); the filler
is generated inside the database with SQL (``benchmarks.seeding``), so a full run takes a few
minutes on the reference machine (2 cores), most of it building the filler.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

from sqlalchemy import select, text

from benchmarks.common import Result, sized
from benchmarks.seeding import (
    CONVERSATIONS,
    MESSAGES_PER_CONVERSATION,
    dialect_of,
    fill,
    filler_sql,
    on_both_backends,
    seed_subject,
)
from confide.access.workspaces import do_create_workspace
from confide.models import metadata
from confide.privacy.export import build_subject_export
from confide.privacy.export_store import export_store, read_sealed
from confide.privacy.subject_map import SubjectRef
from confide.runtime import Runtime

RUNS = 5
GOAL_SECONDS = 0.5
T = metadata.tables


async def _plain_read(rt: Runtime, visitor_id: uuid.UUID) -> int:
    """The baseline: the subject's rows read with hand-written indexed statements."""
    conv = T["conversations"]
    rows = 0
    async with rt.db.session() as session:
        subject_id = await session.scalar(
            select(T["visitors"].c.subject_id).where(T["visitors"].c.id == visitor_id)
        )
        mine = select(conv.c.id).where(conv.c.visitor_id == visitor_id)  # ix_..._visitor_id
        for query in (
            select(T["visitors"]).where(T["visitors"].c.id == visitor_id),
            select(T["personal_fields"]).where(T["personal_fields"].c.subject_id == subject_id),
            select(conv).where(conv.c.visitor_id == visitor_id),
            select(T["messages"])
            .where(T["messages"].c.conversation_id.in_(mine))
            .order_by(T["messages"].c.conversation_id, T["messages"].c.seq),
            select(T["message_texts"]).where(T["message_texts"].c.conversation_id.in_(mine)),
            select(T["connection_logs"]).where(T["connection_logs"].c.visitor_id == visitor_id),
            select(T["consent_records"]).where(T["consent_records"].c.visitor_id == visitor_id),
        ):
            rows += len((await session.execute(query)).all())
    return rows


async def _measure(rt: Runtime, total_messages: int) -> dict[str, Any]:
    workspace = await do_create_workspace(rt, slug="bench", name="Bench")
    started = time.perf_counter()
    conversations = total_messages // MESSAGES_PER_CONVERSATION
    await fill(rt, filler_sql(dialect_of(rt), workspace.id.hex, conversations))
    build_seconds = time.perf_counter() - started
    subject = SubjectRef("visitor", await seed_subject(rt, "bench", 0))
    exports, plain, downloads, cpu = [], [], [], []
    rows = 0
    for _ in range(RUNS):
        t0, c0 = time.perf_counter(), time.process_time()
        result = await build_subject_export(rt, None, subject)
        exports.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        rows = await _plain_read(rt, subject.person_id)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        size = 0
        async for chunk in read_sealed(rt, export_store(rt), result.key):
            size += len(chunk)
        downloads.append(time.perf_counter() - t0)
        assert size == result.size_bytes
        await export_store(rt).delete(result.key)
    assert result.counts["messages"] == CONVERSATIONS * MESSAGES_PER_CONVERSATION
    async with rt.db.session() as session:
        count = await session.scalar(text("SELECT count(*) FROM messages"))
    return {
        "export_seconds": statistics.median(exports),
        "plain_seconds": statistics.median(plain),
        "download_seconds": round(statistics.median(downloads), 4),
        # CPU of this process (all its threads, SQLite's included): less sensitive to load.
        "export_cpu_seconds": round(statistics.median(cpu), 4),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "export_all": [round(x, 4) for x in exports],
        "plain_all": [round(x, 4) for x in plain],
        "zip_bytes": result.size_bytes,
        "records": sum(result.counts.values()),
        "plain_rows": rows,
        "messages_in_db": int(count or 0),
        "build_seconds": round(build_seconds, 1),
    }


def _result(backend: str, m: dict[str, Any]) -> Result:
    return Result(
        name=f"subject_export_{backend}",
        value=round(m["export_seconds"], 4),
        unit="s",
        baseline=round(m["plain_seconds"], 4),
        baseline_name="hand-written indexed SELECTs of the same rows (no decryption, no file)",
        ratio=round(m["export_seconds"] / m["plain_seconds"], 2),
        goal=f"< {GOAL_SECONDS} s for 1 subject, {CONVERSATIONS} conversations, "
        f"{CONVERSATIONS * MESSAGES_PER_CONVERSATION} messages",
        goal_met=m["export_seconds"] < GOAL_SECONDS,
        notes=f"{backend}, {m['messages_in_db']} messages in the database; the export "
        "includes decryption, the sealed ZIP written with fsync and the audit record.",
        details=m,
    )


async def run(quick: bool = False) -> list[Result]:
    total = sized(1_000_000, 20_000, quick)
    measured = await on_both_backends(lambda rt: _measure(rt, total))
    return [_result(backend, m) for backend, m in measured]
