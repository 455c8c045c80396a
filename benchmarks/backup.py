"""Backup and verify of a large database, against the tools an operator would use by hand.

Value: seconds for ``do_create_backup`` (consistent snapshot, gzip, sealed chunks, sealed
manifest with row counts, key-store export, audit record) of a database of ``TOTAL_MESSAGES``
messages. Baseline, in the same run on the same database: SQLite ``sqlite3 db ".backup out"``
then ``gzip out``; PostgreSQL ``pg_dump -Fc -Z0 | gzip``. Ratio: baseline seconds / ours (speed;
goal at least 0.5x). ``verify_backup`` (restore into a temporary database, row counts, audit
chains, the key-store copy) is measured too and compared with the same baseline in the details,
with when its parts ended (``verify_read_seconds``: the whole sealed stream read;
``verify_loaded_seconds``: every row in and counted; ``verify_audit_walked_seconds``).
Filler messages are generated in the database with SQL (``benchmarks.seeding``); their texts
are opaque stand-ins, but every filler conversation gets a real data key in the key store (as
its sealed texts would have), so the key-store copy and verify's key check are full-sized.
"""

# The baselines run the standard tools (sqlite3, gzip, pg_dump) on paths of our own making.
# ruff: noqa: S603, S607

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from benchmarks.common import Result, sized, temporary_runtime
from benchmarks.seeding import (
    FILLER_AT,
    MESSAGES_PER_CONVERSATION,
    PG_URL,
    dialect_of,
    fill,
    filler_sql,
)
from confide.access.workspaces import do_create_workspace
from confide.audit.chain import GENESIS_HASH, chain_id, event_hash
from confide.audit.models import AuditEvent, AuditHead
from confide.backup.actions import do_create_backup
from confide.backup.pg_load import verify_database_url
from confide.backup.restore import verify_backup
from confide.backup.snapshot import libpq_url, pg_admin, sqlite_path
from confide.chat.models import Conversation
from confide.crypto.keystore import DataKey
from confide.crypto.providers import KEY_BYTES, seal
from confide.runtime import Runtime

GOAL_RATIO = 0.5


async def _conversation_keys(rt: Runtime, workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    """A wrapped data key for every conversation of the workspace, inserted in bulk (the
    keyring makes them one at a time, as messages arrive). Returns how many."""
    # The workspace KEK, to wrap keys in bulk (seeding only).
    _, kek = await rt.keyring._kek(str(workspace_id))
    rows = [
        {
            "id": str(key_id),
            "workspace_id": str(workspace_id),
            "kek_version": 1,
            "wrapped": seal(kek, secrets.token_bytes(KEY_BYTES), f"dek:{key_id}".encode()),
        }
        for key_id in ids
    ]
    async with rt.keyring.store.db.transaction() as session:
        await session.execute(insert(DataKey), rows)
    return len(rows)


async def _audit_reads(rt: Runtime, workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    """One ``conversation.read`` audit record per conversation in the workspace's chain, hashed
    and chained as the ledger does, inserted in bulk, so verify walks a chain of that length.
    Returns how many."""
    prev, rows = GENESIS_HASH, []
    operator = uuid.uuid4()
    for seq, conversation in enumerate(ids, start=1):
        event = AuditEvent(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            seq=seq,
            at=FILLER_AT,
            actor_kind="operator",
            actor_id=operator,
            action="conversation.read",
            resource=f"conversation:{conversation}",
            source="local@bench",
            prev_hash=prev,
        )
        event.hash = prev = event_hash(event)
        rows.append({c.key: getattr(event, c.key) for c in AuditEvent.__table__.columns})
    async with rt.db.transaction() as tx:
        await tx.execute(insert(AuditEvent), rows)
        head = await tx.get(AuditHead, chain_id(workspace_id))
        if head is None:
            tx.add(AuditHead(chain_id=chain_id(workspace_id), seq=len(rows), hash=prev))
        else:
            head.seq, head.hash = len(rows), prev
    return len(rows)


def _baseline(rt: Runtime, out: Path) -> tuple[float, int]:
    """Seconds and bytes of the hand-run tools' backup."""
    started = time.perf_counter()
    if rt.db.is_sqlite:
        copy = out / "baseline.db"
        subprocess.run(["sqlite3", str(sqlite_path(rt.db.url)), f".backup {copy}"], check=True)
        subprocess.run(["gzip", "-f", str(copy)], check=True)
    else:
        with (out / "baseline.dump.gz").open("wb") as target:
            dump = subprocess.Popen(
                ["pg_dump", "-Fc", "-Z0", libpq_url(rt.db.url)], stdout=subprocess.PIPE
            )
            subprocess.run(["gzip", "-c"], stdin=dump.stdout, stdout=target, check=True)
            assert dump.wait() == 0
    seconds = time.perf_counter() - started
    return seconds, sum(p.stat().st_size for p in out.iterdir())


async def _measure(rt: Runtime, total_messages: int) -> dict[str, Any]:
    workspace = await do_create_workspace(rt, slug="bench", name="Bench")
    started = time.perf_counter()
    conversations = total_messages // MESSAGES_PER_CONVERSATION
    await fill(rt, filler_sql(dialect_of(rt), workspace.id.hex, conversations), analyze=False)
    async with rt.db.session() as session:
        ids = list((await session.scalars(select(Conversation.id))).all())
    keys = await _conversation_keys(rt, workspace.id, ids)
    audit_records = await _audit_reads(rt, workspace.id, ids)
    build_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        baseline, baseline_bytes = await asyncio.to_thread(_baseline, rt, Path(tmp))
    t0 = time.perf_counter()
    manifest = await do_create_backup(rt)
    backup_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def progress(step: str, done: int, total: int | None) -> None:
        # when each part of verify ended, in seconds from its start
        if step == "read" and done == total:
            phases["verify_read_seconds"] = time.perf_counter() - t0
        elif step == "keystore":
            phases.setdefault("verify_loaded_seconds", time.perf_counter() - t0)
        elif step == "audit" and done == total:
            phases["verify_audit_walked_seconds"] = time.perf_counter() - t0

    result = await verify_backup(rt, manifest["id"], progress)
    verify_seconds = time.perf_counter() - t0
    assert result.problem is None, result.problem
    shutil.rmtree(rt.settings.resolved_backups_dir, ignore_errors=True)
    return {
        "backup_seconds": backup_seconds,
        "verify_seconds": verify_seconds,
        "baseline_seconds": baseline,
        "verify_ratio": round(baseline / verify_seconds, 3),
        "sealed_bytes": manifest["sealed_bytes"],
        "baseline_bytes": baseline_bytes,
        "messages_in_db": manifest["row_counts"]["messages"],
        "data_keys": keys,
        "audit_records": audit_records,
        "audit_chains": result.chains,
        "keystore_sealed_bytes": manifest["keystore"]["sealed_bytes"],
        "chunks": len(manifest["chunks"]),
        "build_seconds": round(build_seconds, 1),
        **phases,
    }


async def _on_postgres(total_messages: int) -> dict[str, Any] | None:
    name = f"confide_bench_{uuid.uuid4().hex[:8]}"
    try:
        await pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    except OSError:
        return None  # no PostgreSQL here: reported as not measured
    try:
        async with temporary_runtime(database_url=PG_URL.rsplit("/", 1)[0] + f"/{name}") as rt:
            return await _measure(rt, total_messages)
    finally:
        await pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        scratch = verify_database_url(f"{PG_URL.rsplit('/', 1)[0]}/{name}").rsplit("/", 1)[1]
        await pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _result(backend: str, m: dict[str, Any]) -> Result:
    ratio = m["baseline_seconds"] / m["backup_seconds"]
    tool = "sqlite3 .backup + gzip" if backend == "sqlite" else "pg_dump -Fc -Z0 | gzip"
    return Result(
        name=f"backup_{backend}",
        value=round(m["backup_seconds"], 2),
        unit="s",
        baseline=round(m["baseline_seconds"], 2),
        baseline_name=f"{tool} of the same database, same run",
        ratio=round(ratio, 3),
        goal=f"create and verify each at least {GOAL_RATIO}x the speed of {tool}",
        goal_met=ratio >= GOAL_RATIO and m["verify_ratio"] >= GOAL_RATIO,
        notes=f"{backend}, {m['messages_in_db']} messages; the ratio is create's; verify "
        "(restore into a temporary database, row counts, key-store copy, audit chains) "
        f"{m['verify_seconds']:.2f} s = {m['verify_ratio']}x the baseline",
        details={k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()},
    )


async def run(quick: bool = False) -> list[Result]:
    total = sized(1_000_000, 50_000, quick)
    results = []
    async with temporary_runtime() as rt:
        results.append(_result("sqlite", await _measure(rt, total)))
    if os.environ.get("CONFIDE_BENCH_SKIP_POSTGRES") != "1":
        measured = await _on_postgres(total)
        if measured is not None:
            results.append(_result("postgres", measured))
    return results
