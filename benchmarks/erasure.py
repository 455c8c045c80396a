"""Erasing one data subject in a large database, against plain indexed SQL deletes.

Value: seconds for ``do_erase_subject`` on a visitor with ``CONVERSATIONS`` conversations and
``MESSAGES_PER_CONVERSATION`` messages each (texts sealed under real conversation keys, name,
e-mail and phone in the vault), in a database of ``TOTAL_MESSAGES`` messages: the whole act,
with the walk over the subject data map, the audit record, and the destruction of 201 keys in
the key store after commit (tombstones, ``secure_delete``, checkpoint, trace check).
Baseline: an identical visitor in the same database deleted with hand-written indexed
``DELETE`` statements in one transaction (texts, messages, conversations, fields, visitor),
measured in the same run, alternating with the erasures; median of ``PAIRS``. Run on SQLite and
on PostgreSQL (``CONFIDE_BENCH_POSTGRES_URL``, default the local server) when reachable.

The filler (other people's conversations) and the subjects are built by ``benchmarks.seeding``:
the filler inside the database with SQL, so the build takes seconds, not hours.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from sqlalchemy import delete, select, text

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
from confide.privacy.erasure import do_erase_subject
from confide.runtime import Runtime

PAIRS = 3
GOAL_SECONDS = 0.2
T = metadata.tables


async def _plain_delete(rt: Runtime, visitor_id: uuid.UUID) -> None:
    """The baseline: the same rows deleted by hand-written indexed statements."""
    conv = T["conversations"]
    async with rt.db.transaction() as tx:
        subject_id = await tx.scalar(
            select(T["visitors"].c.subject_id).where(T["visitors"].c.id == visitor_id)
        )
        mine = select(conv.c.id).where(
            conv.c.visitor_id == visitor_id
        )  # ix_conversations_visitor_id
        await tx.execute(
            delete(T["message_texts"]).where(T["message_texts"].c.conversation_id.in_(mine))
        )
        await tx.execute(delete(T["messages"]).where(T["messages"].c.conversation_id.in_(mine)))
        await tx.execute(delete(conv).where(conv.c.visitor_id == visitor_id))
        await tx.execute(
            delete(T["connection_logs"]).where(T["connection_logs"].c.visitor_id == visitor_id)
        )
        await tx.execute(delete(T["visitors"]).where(T["visitors"].c.id == visitor_id))
        await tx.execute(
            delete(T["personal_fields"]).where(T["personal_fields"].c.subject_id == subject_id)
        )


async def _measure(rt: Runtime, total_messages: int) -> dict[str, Any]:
    workspace = await do_create_workspace(rt, slug="bench", name="Bench")
    started = time.perf_counter()
    conversations = total_messages // MESSAGES_PER_CONVERSATION
    await fill(rt, filler_sql(dialect_of(rt), workspace.id.hex, conversations))
    build_seconds = time.perf_counter() - started
    erase, plain = [], []
    for n in range(PAIRS):
        a = await seed_subject(rt, "bench", 2 * n)
        b = await seed_subject(rt, "bench", 2 * n + 1)
        t0 = time.perf_counter()
        report = await do_erase_subject(rt, None, "visitor", a)
        erase.append(time.perf_counter() - t0)
        assert report.conversations == CONVERSATIONS
        t0 = time.perf_counter()
        await _plain_delete(rt, b)
        plain.append(time.perf_counter() - t0)
    async with rt.db.session() as session:
        count = await session.scalar(text("SELECT count(*) FROM messages"))
    return {
        "erase_seconds": statistics.median(erase),
        "plain_seconds": statistics.median(plain),
        "erase_all": [round(x, 4) for x in erase],
        "plain_all": [round(x, 4) for x in plain],
        "messages_in_db": int(count or 0),
        "build_seconds": round(build_seconds, 1),
        "keys_destroyed_per_erasure": report.keys,
    }


def _result(backend: str, m: dict[str, Any]) -> Result:
    return Result(
        name=f"erasure_{backend}",
        value=round(m["erase_seconds"], 4),
        unit="s",
        baseline=round(m["plain_seconds"], 4),
        baseline_name="hand-written indexed DELETEs of the same rows, same run",
        ratio=round(m["erase_seconds"] / m["plain_seconds"], 2),
        goal=f"< {GOAL_SECONDS} s for 1 subject, {CONVERSATIONS} conversations, "
        f"{CONVERSATIONS * MESSAGES_PER_CONVERSATION} messages",
        goal_met=m["erase_seconds"] < GOAL_SECONDS,
        notes=f"{backend}, {m['messages_in_db']} messages in the database; erasure includes "
        "the audit record and destroying 201 keys after commit.",
        details=m,
    )


async def run(quick: bool = False) -> list[Result]:
    total = sized(1_000_000, 20_000, quick)
    measured = await on_both_backends(lambda rt: _measure(rt, total))
    return [_result(backend, m) for backend, m in measured]
