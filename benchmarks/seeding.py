"""Seeding for the privacy benchmarks (erasure, subject export, retention, backup).

Other people's conversations are generated inside the database with SQL, so a million
messages take seconds, not hours; their texts are opaque stand-ins (never decrypted). The data
subject a benchmark acts on is built through the real actions instead: a visitor with name,
e-mail and phone in the vault and ``CONVERSATIONS`` conversations whose texts are sealed under
real conversation keys. PostgreSQL runs get a throwaway database of their own.
"""

# The filler SQL is built from integers, dates and UUIDs of our own making, never from input.
# ruff: noqa: S608

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select, text

from benchmarks.common import temporary_runtime
from confide.chat.visitors import do_create_visitor
from confide.models import metadata
from confide.runtime import Runtime

CONVERSATIONS = 200
MESSAGES_PER_CONVERSATION = 10
PG_URL = os.environ.get(
    "CONFIDE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
FILLER_AT = datetime(2026, 1, 1, tzinfo=UTC)
T = metadata.tables
Measured = TypeVar("Measured")


def filler_sql(
    dialect: str,
    workspace_hex: str,
    conversations: int,
    *,
    prefixes: tuple[str, str, str, str] = ("a", "b", "c", "d"),
    tag: str = "filler",
    at: datetime = FILLER_AT,
    closed: bool = True,
) -> list[str]:
    """Statements that add ``conversations`` web conversations of other people (2 per visitor,
    ``MESSAGES_PER_CONVERSATION`` messages each, all dated ``at``) to the workspace, generated
    in the database. ``prefixes``: the first hex digit of the generated subject, visitor,
    conversation and message ids (distinct per call in one database); ``tag`` goes into the
    visitors' ``vuid``; ``closed``: closed at ``at`` (else open)."""
    subject, visitor, conversation, message = prefixes
    total = conversations * MESSAGES_PER_CONVERSATION
    visitors = conversations // 2
    owner = f"(i - 1) / {MESSAGES_PER_CONVERSATION} + 1"  # the message's conversation number
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if dialect == "sqlite":
        ids = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {m}) "

        def uid(prefix: str, expr: str) -> str:
            return f"printf('{prefix}%031x', {expr})"

        then = f"'{stamp}'"
        ws = f"'{workspace_hex}'"
    else:
        ids = "WITH n(i) AS (SELECT generate_series(1, {m})) "

        def uid(prefix: str, expr: str) -> str:
            return f"('{prefix}' || lpad(to_hex({expr}), 31, '0'))::uuid"

        then = f"'{stamp}+00'::timestamptz"
        ws = f"'{workspace_hex}'::uuid"
    status, closed_at = ("'closed'", then) if closed else ("'open'", "NULL")
    return [
        ids.format(m=visitors)
        + f"INSERT INTO subjects (id, workspace_id, kind, created_at) SELECT "
        f"{uid(subject, 'i')}, {ws}, 'visitor', {then} FROM n",
        ids.format(m=visitors)
        + "INSERT INTO visitors (id, workspace_id, vuid, subject_id, created_at, last_seen_at) "
        f"SELECT {uid(visitor, 'i')}, {ws}, 'v_{tag}_' || i, {uid(subject, 'i')}, {then}, "
        f"{then} FROM n",
        ids.format(m=conversations)
        + "INSERT INTO conversations (id, workspace_id, visitor_id, channel, status, last_seq, "
        "created_at, closed_at, first_response_at, lifecycle, restricted, held) SELECT "
        f"{uid(conversation, 'i')}, {ws}, {uid(visitor, '(i - 1) / 2 + 1')}, 'web', {status}, "
        f"{MESSAGES_PER_CONVERSATION}, {then}, {closed_at}, {then}, 'active', false, false "
        "FROM n",
        ids.format(m=total)
        + "INSERT INTO messages (id, conversation_id, seq, author_kind, kind, created_at) "
        f"SELECT {uid(message, 'i')}, {uid(conversation, owner)}, "
        f"(i - 1) % {MESSAGES_PER_CONVERSATION} + 1, 'visitor', 'text', {then} FROM n",
        ids.format(m=total)
        + "INSERT INTO message_texts (message_id, conversation_id, body, created_at) "
        f"SELECT {uid(message, 'i')}, {uid(conversation, owner)}, "
        f"'ck1:opaque-stand-in-for-a-sealed-text-of-someone-else', {then} FROM n",
    ]


def dialect_of(rt: Runtime) -> str:
    """``sqlite`` or ``postgresql``: the dialect :func:`filler_sql` writes for."""
    return "sqlite" if rt.db.is_sqlite else "postgresql"


async def fill(rt: Runtime, statements: Sequence[str], *, analyze: bool = True) -> None:
    """Run the :func:`filler_sql` statements in one transaction; on PostgreSQL then
    ``ANALYZE`` (unless ``analyze`` is false), so the planner sees the real sizes."""
    async with rt.db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
        if analyze and not rt.db.is_sqlite:
            await conn.execute(text("ANALYZE"))


async def seed_subject(rt: Runtime, slug: str, n: int) -> uuid.UUID:
    """A visitor of workspace ``slug`` with name, e-mail, phone (the ``n``-th fake ones) and
    ``CONVERSATIONS`` closed conversations of ``MESSAGES_PER_CONVERSATION`` texts sealed
    under real conversation keys. Returns the visitor's id."""
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


async def on_postgres(measure: Callable[[Runtime], Awaitable[Measured]]) -> Measured | None:
    """``measure`` run on a throwaway PostgreSQL database (created on ``PG_URL``'s server,
    dropped afterwards), or None when no PostgreSQL server is reachable (not measured)."""
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
            return await measure(rt)
    finally:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def on_both_backends(
    measure: Callable[[Runtime], Awaitable[Measured]],
) -> list[tuple[str, Measured]]:
    """``measure`` on a throwaway SQLite runtime, then on PostgreSQL when one is reachable:
    ``[("sqlite", ...), ("postgres", ...)]`` (the second only when measured)."""
    async with temporary_runtime() as rt:
        measured = [("sqlite", await measure(rt))]
    on_pg = await on_postgres(measure)
    if on_pg is not None:
        measured.append(("postgres", on_pg))
    return measured
