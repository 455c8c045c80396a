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

The filler (other people's conversations) is generated inside the database with SQL, so the
build takes seconds, not hours; its texts are opaque stand-ins (never decrypted).
"""

# The filler SQL is built from integers and a UUID of our own making, never from input.
# ruff: noqa: S608

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

from sqlalchemy import delete, insert, select, text

from benchmarks.common import Result, sized, temporary_runtime
from confide.access.workspaces import do_create_workspace
from confide.chat.visitors import do_create_visitor
from confide.models import metadata
from confide.privacy.erasure import do_erase_subject
from confide.runtime import Runtime

CONVERSATIONS = 200
MESSAGES_PER_CONVERSATION = 10
PAIRS = 3
GOAL_SECONDS = 0.2
PG_URL = os.environ.get(
    "CONFIDE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
T = metadata.tables


def _filler_sql(dialect: str, total_messages: int, workspace_hex: str) -> list[str]:
    """Statements that add ``total_messages`` messages (10 per conversation, 2 conversations
    per visitor) of other people, generated in the database."""
    conversations = total_messages // 10
    visitors = conversations // 2
    if dialect == "sqlite":
        ids = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {m}) "

        def uid(prefix: str, expr: str) -> str:
            return f"printf('{prefix}%031x', {expr})"

        now = "'2026-01-01 00:00:00.000000'"
        ws = f"'{workspace_hex}'"
    else:
        ids = "WITH n(i) AS (SELECT generate_series(1, {m})) "

        def uid(prefix: str, expr: str) -> str:
            return f"('{prefix}' || lpad(to_hex({expr}), 31, '0'))::uuid"

        now = "now()"
        ws = f"'{workspace_hex}'::uuid"
    return [
        ids.format(m=visitors)
        + f"INSERT INTO subjects (id, workspace_id, kind, created_at) SELECT {uid('a', 'i')}, "
        f"{ws}, 'visitor', {now} FROM n",
        ids.format(m=visitors)
        + "INSERT INTO visitors (id, workspace_id, vuid, subject_id, created_at, last_seen_at) "
        f"SELECT {uid('b', 'i')}, {ws}, 'v_filler_' || i, {uid('a', 'i')}, {now}, {now} FROM n",
        ids.format(m=conversations)
        + "INSERT INTO conversations (id, workspace_id, visitor_id, channel, status, last_seq, "
        f"created_at) SELECT {uid('c', 'i')}, {ws}, {uid('b', '(i - 1) / 2 + 1')}, 'web', "
        f"'closed', 10, {now} FROM n",
        ids.format(m=total_messages)
        + "INSERT INTO messages (id, conversation_id, seq, author_kind, kind, created_at) "
        f"SELECT {uid('d', 'i')}, {uid('c', '(i - 1) / 10 + 1')}, (i - 1) % 10 + 1, 'visitor', "
        f"'text', {now} FROM n",
        ids.format(m=total_messages)
        + "INSERT INTO message_texts (message_id, conversation_id, body, created_at) "
        f"SELECT {uid('d', 'i')}, {uid('c', '(i - 1) / 10 + 1')}, "
        f"'ck1:opaque-stand-in-for-a-sealed-text-of-someone-else', {now} FROM n",
    ]


async def _subject(rt: Runtime, slug: str, n: int) -> uuid.UUID:
    """A visitor with name, e-mail, phone and CONVERSATIONS sealed conversations."""
    created = await do_create_visitor(rt, slug)
    visitor_id = created.visitor_id
    async with rt.db.transaction() as tx:
        subject_id = await tx.scalar(
            select(T["visitors"].c.subject_id).where(T["visitors"].c.id == visitor_id)
        )
        workspace_id = created.workspace_id
        await rt.vault.write_fields(
            tx,
            subject_id,
            {
                "name": f"Bench Person {n}",
                "email": f"bench.{n}@example.invalid",
                "phone": f"+44 20 7946 {n:04d}",
            },
        )
        conversations: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        texts: list[dict[str, Any]] = []
        for _ in range(CONVERSATIONS):
            conversation_id = uuid.uuid4()
            conversations.append(
                {
                    "id": conversation_id,
                    "workspace_id": workspace_id,
                    "visitor_id": visitor_id,
                    "channel": "web",
                    "status": "closed",
                    "last_seq": MESSAGES_PER_CONVERSATION,
                }
            )
            for seq in range(1, MESSAGES_PER_CONVERSATION + 1):
                message_id = uuid.uuid4()
                messages.append(
                    {
                        "id": message_id,
                        "conversation_id": conversation_id,
                        "seq": seq,
                        "author_kind": "visitor",
                        "kind": "text",
                    }
                )
                body = await rt.keyring.encrypt(
                    workspace_id,
                    conversation_id,
                    f"Message {seq} of a long story",
                    f"message_texts:{message_id}",
                )
                texts.append(
                    {"message_id": message_id, "conversation_id": conversation_id, "body": body}
                )
        await tx.execute(insert(T["conversations"]), conversations)
        await tx.execute(insert(T["messages"]), messages)
        await tx.execute(insert(T["message_texts"]), texts)
    return visitor_id


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
    dialect = "sqlite" if rt.db.is_sqlite else "postgresql"
    async with rt.db.engine.begin() as conn:
        for statement in _filler_sql(dialect, total_messages, workspace.id.hex):
            await conn.execute(text(statement))
        if dialect == "postgresql":
            await conn.execute(text("ANALYZE"))
    build_seconds = time.perf_counter() - started
    erase, plain = [], []
    for n in range(PAIRS):
        a = await _subject(rt, "bench", 2 * n)
        b = await _subject(rt, "bench", 2 * n + 1)
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


async def _on_postgres(total_messages: int) -> dict[str, Any] | None:
    from confide.core.db import Database

    name = f"confide_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(PG_URL)
    try:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError:
        await admin.dispose()
        return None  # no PostgreSQL here: reported as not measured
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        async with temporary_runtime(database_url=url) as rt:
            return await _measure(rt, total_messages)
    finally:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


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
    results = []
    async with temporary_runtime() as rt:
        results.append(_result("sqlite", await _measure(rt, total)))
    measured = await _on_postgres(total)
    if measured is not None:
        results.append(_result("postgres", measured))
    return results
