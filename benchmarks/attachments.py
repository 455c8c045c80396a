"""Upload throughput of 1 MB JPEGs against a plain file write of the same bytes.

Value: MB/s of JPEG uploads through ``confide.chat.attachments.do_upload_attachment`` (content
sniffing, Pillow decode and re-encode without metadata, a 320 px thumbnail, AES-256-GCM sealed
streams under the conversation's key, atomic fsynced writes to the blob store, the row, the
``file`` message and the audit record). Baseline: the same bytes written to a file and fsynced,
measured in the same run, alternating rounds (best of each). The ratio is what cleaning and
sealing a picture costs over just keeping it.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from PIL import Image

from benchmarks.common import Result, sized, temporary_runtime
from confide.access.workspaces import do_create_workspace
from confide.chat.attachments import do_upload_attachment
from confide.chat.conversations import do_start_conversation
from confide.chat.visitors import authenticate_visitor_token, do_create_visitor

ROUNDS = 3
UPLOAD_CHUNK_BYTES = 64 * 1024  # what a server hands the route per read
GOAL_MB_PER_SECOND = 5.0  # a busy web chat sends a few pictures a second, not megabytes


def _jpeg_of_about_one_megabyte() -> bytes:
    """A photo-like JPEG (noise compresses as badly as a real photo) of at least 1 MB."""
    side = 700
    while True:
        noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        noise.save(out, "JPEG", quality=90)
        if out.tell() >= 1_000_000:
            return out.getvalue()
        side += 50


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), UPLOAD_CHUNK_BYTES):
        yield data[start : start + UPLOAD_CHUNK_BYTES]


def _plain_writes(directory: Path, data: bytes, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        with open(directory / f"plain-{i}.jpg", "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return time.perf_counter() - started


async def run(quick: bool = False) -> Result:
    data = _jpeg_of_about_one_megabyte()
    count = sized(20, 4, quick)
    megabytes = len(data) * count / 1_000_000
    async with temporary_runtime(visitor_files_per_minute=10**9) as rt:
        workspace = await do_create_workspace(rt, slug=f"b{uuid.uuid4().hex[:8]}", name="Bench")
        visitor = await do_create_visitor(rt, workspace.slug)
        principal = await authenticate_visitor_token(rt, visitor.token)
        started = await do_start_conversation(rt, principal, visitor_id=visitor.visitor_id)
        conversation = started.conversation
        for i in range(2):  # warm-up: the conversation's key created and cached
            await do_upload_attachment(
                rt, principal, conversation.id, name=f"w{i}.jpg", chunks=_chunks(data)
            )
        best, baseline = 0.0, 0.0
        with tempfile.TemporaryDirectory() as plain_dir:
            for _ in range(ROUNDS):
                started = time.perf_counter()
                for i in range(count):
                    await do_upload_attachment(
                        rt, principal, conversation.id, name=f"p{i}.jpg", chunks=_chunks(data)
                    )
                best = max(best, megabytes / (time.perf_counter() - started))
                baseline = max(baseline, megabytes / _plain_writes(Path(plain_dir), data, count))
    return Result(
        name="attachments",
        value=round(best, 2),
        unit="MB/s",
        baseline=round(baseline, 2),
        baseline_name="the same bytes written to a file and fsynced",
        ratio=round(best / baseline, 4),
        goal=f">= {GOAL_MB_PER_SECOND} MB/s of 1 MB JPEGs (re-encode + thumbnail + seal + store)",
        goal_met=best >= GOAL_MB_PER_SECOND,
        notes="One visitor's uploads to one web conversation, SQLite, one process; "
        "visitor_files_per_minute raised through settings.",
        details={
            "jpeg_bytes": len(data),
            "uploads_per_round": count,
            "rounds": ROUNDS,
            "uploads_per_second": round(best * 1_000_000 / len(data), 2),
        },
    )
