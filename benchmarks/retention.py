"""Retention end of life at scale, against a plain bulk ``DELETE`` of the same rows.

Value: conversations taken through end of life per second by the retention run
(``do_run_retention``): per conversation a statistics row written, every row the subject data
map reaches deleted by the erasure engine, its data key destroyed in the key store after commit
(tombstone, ``secure_delete``), visitors left with nothing erased (identity, audit record), in
batches of one transaction each with the run's counts. Baseline: the same number of
conversations (same messages, texts and visitors) in a second workspace removed with four plain
bulk ``DELETE`` statements in one transaction, in the same run. Goal: at least 0.3x the plain
delete. The issue asks for 1,000,000 messages in 100,000 conversations; the default here is
scaled (``CONVERSATIONS``) so the benchmark runs in a few minutes on a small machine; the rate
is per conversation, so it compares across sizes. Run on SQLite and on PostgreSQL
(``CONFIDE_BENCH_POSTGRES_URL``) when reachable.
"""

# The baseline's SQL is built from UUIDs of our own making, never from input.
# ruff: noqa: S608

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from benchmarks.common import Result, sized
from benchmarks.seeding import (
    MESSAGES_PER_CONVERSATION,
    dialect_of,
    fill,
    filler_sql,
    on_both_backends,
)
from confide.access.workspaces import do_create_workspace
from confide.core.clock import utcnow
from confide.privacy import settings as privacy_settings
from confide.privacy.retention.run import do_run_retention
from confide.runtime import Runtime

GOAL_RATIO = 0.3
# Closed 2020 conversations: due for statistics and end of life under a 30-day retention.
THEN = datetime(2020, 1, 6, 10, tzinfo=UTC)


async def _plain_delete(rt: Runtime, workspace_id: uuid.UUID) -> None:
    """The baseline: the workspace's texts, messages, conversations and visitors removed with
    plain bulk DELETE statements in one transaction."""
    ws = workspace_id.hex if rt.db.is_sqlite else str(workspace_id)
    mine = f"SELECT id FROM conversations WHERE workspace_id = '{ws}'"
    async with rt.db.transaction() as tx:
        await tx.execute(text(f"DELETE FROM message_texts WHERE conversation_id IN ({mine})"))
        await tx.execute(text(f"DELETE FROM messages WHERE conversation_id IN ({mine})"))
        await tx.execute(text(f"DELETE FROM conversations WHERE workspace_id = '{ws}'"))
        await tx.execute(text(f"DELETE FROM visitors WHERE workspace_id = '{ws}'"))


async def _measure(rt: Runtime, conversations: int) -> dict[str, Any]:
    a = await do_create_workspace(rt, slug="bench-a", name="Retention")
    b = await do_create_workspace(rt, slug="bench-b", name="Plain delete")
    async with rt.db.transaction() as tx:
        await privacy_settings.apply(
            tx, a.id, {"retention_days": {"web": 30}, "archive_days": {"web": 0}}
        )
        # B is only the baseline's: nothing of it is due, so the run does no work there.
        await privacy_settings.apply(
            tx, b.id, {"retention_days": {"web": 3650}, "archive_days": {"web": 3650}}
        )
    started = time.perf_counter()
    dialect = dialect_of(rt)
    # Workspace A goes through retention, B through the plain delete: distinct id prefixes.
    # A's conversations are closed (due for statistics and end of life); B's stay open, so
    # the retention run has nothing to do in B and B is only the baseline's.
    await fill(
        rt,
        filler_sql(dialect, a.id.hex, conversations, tag="a", at=THEN)
        + filler_sql(
            dialect,
            b.id.hex,
            conversations,
            prefixes=("e", "f", "1", "2"),
            tag="b",
            at=THEN,
            closed=False,
        ),
    )
    # Every conversation of A has a real data key in the key store, as in production.
    for i in range(1, conversations + 1):
        key_id = uuid.UUID(f"c{i:031x}")
        await rt.keyring.encrypt(a.id, key_id, "k", f"bench:{key_id}")
    build_seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    run = await do_run_retention(rt, as_of=utcnow())
    retention_seconds = time.perf_counter() - t0
    assert run.report is not None
    counts = run.report["workspaces"][str(a.id)]["web"]
    assert counts["destroyed"] == conversations, counts
    t0 = time.perf_counter()
    await _plain_delete(rt, b.id)
    plain_seconds = time.perf_counter() - t0
    return {
        "conversations": conversations,
        "messages": conversations * MESSAGES_PER_CONVERSATION,
        "retention_seconds": round(retention_seconds, 3),
        "plain_seconds": round(plain_seconds, 3),
        "retention_per_second": round(conversations / retention_seconds, 1),
        "plain_per_second": round(conversations / plain_seconds, 1),
        "visitors_erased": counts["visitors_erased"],
        "batches": run.batches,
        "build_seconds": round(build_seconds, 1),
    }


def _result(backend: str, m: dict[str, Any]) -> Result:
    ratio = m["retention_per_second"] / m["plain_per_second"]
    return Result(
        name=f"retention_{backend}",
        value=m["retention_per_second"],
        unit="conversations/s",
        baseline=m["plain_per_second"],
        baseline_name="plain bulk DELETE of the same rows (texts, messages, conversations, "
        "visitors), same run",
        ratio=round(ratio, 3),
        goal=f">= {GOAL_RATIO}x the plain delete",
        goal_met=ratio >= GOAL_RATIO,
        notes=f"{backend}, {m['conversations']} conversations, {m['messages']} messages per side "
        "(scaled from the issue's 100,000 / 1,000,000); end of life includes statistics rows, "
        "key destruction and erasing the freed visitors.",
        details=m,
    )


async def run(quick: bool = False) -> list[Result]:
    conversations = sized(10_000, 1_000, quick)
    measured = await on_both_backends(lambda rt: _measure(rt, conversations))
    return [_result(backend, m) for backend, m in measured]
