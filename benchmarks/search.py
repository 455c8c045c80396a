"""Word search over encrypted transcripts: the keyed token index against SQLite FTS5.

Value: median time of ``confide.chat.search.search_conversations`` (an admin's query, one word,
newest 50 conversations) over the word index of 1,000,000 messages on SQLite. Baseline: the
same query shape against an FTS5 table holding the same messages in plaintext (what a
product without encryption would do), in the same database file and the same run. Goal: under
200 ms per query.

Messages are synthetic: 50,000 conversations of 20 messages of 10 words drawn from a
20,000-word vocabulary with a Zipf distribution, so some words are in almost every
conversation and most in few. The index rows are exactly those ``index_message`` writes (one
keyed hash per distinct word per conversation); message rows themselves are not written, as
neither query reads them. Words queried: one common (rank 5), one middling (rank 500), one
rare (rank 15,000); the value is the median over all of them.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import timedelta

from sqlalchemy import insert, text

from benchmarks.common import Result, sized, temporary_runtime
from confide.access.models import Role
from confide.access.policy import Principal
from confide.access.workspaces import do_create_workspace
from confide.chat import search
from confide.chat.models import Channel, Conversation, ConversationStatus, SearchTerm
from confide.chat.visitors import add_visitor
from confide.core.clock import utcnow

GOAL_MS = 200.0
VOCABULARY = 20_000
MESSAGES_PER_CONVERSATION = 20
WORDS_PER_MESSAGE = 10
QUERY_RANKS = (5, 500, 15_000)
REPEATS = 15
BATCH = 20_000


def _vocabulary() -> list[str]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    seen: set[str] = set()
    while len(seen) < VOCABULARY:
        seen.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(seen)


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def run(quick: bool = False) -> Result:
    messages = sized(1_000_000, 50_000, quick)
    conversations = messages // MESSAGES_PER_CONVERSATION
    words = _vocabulary()
    rng = random.Random(11)
    weights = [1 / (rank + 1) for rank in range(VOCABULARY)]
    async with temporary_runtime() as rt:
        workspace = await do_create_workspace(rt, slug="bench", name="Bench")
        async with rt.db.transaction() as session:
            visitor = await add_visitor(rt, session, workspace.id)
        hashes = [search.term_hash(rt, workspace.id, w) for w in words]
        started_at = utcnow() - timedelta(days=365)
        build_started = time.perf_counter()
        async with rt.db.engine.begin() as conn:
            await conn.execute(
                text("CREATE VIRTUAL TABLE fts USING fts5(body, conversation_id UNINDEXED)")
            )
        conv_rows: list[dict[str, object]] = []
        term_rows: list[dict[str, object]] = []
        fts_rows: list[dict[str, object]] = []

        async def flush(force: bool = False) -> None:
            if not force and len(term_rows) < BATCH * 10:
                return
            async with rt.db.engine.begin() as conn:
                if conv_rows:
                    await conn.execute(insert(Conversation), conv_rows)
                if term_rows:
                    await conn.execute(insert(SearchTerm), term_rows)
                if fts_rows:
                    await conn.execute(
                        text("INSERT INTO fts (body, conversation_id) VALUES (:body, :cid)"),
                        fts_rows,
                    )
            conv_rows.clear()
            term_rows.clear()
            fts_rows.clear()

        for number in range(conversations):
            conversation_id = uuid.uuid4()
            conv_rows.append(
                {
                    "id": conversation_id,
                    "workspace_id": workspace.id,
                    "visitor_id": visitor.id,
                    "channel": Channel.WEB,
                    "status": ConversationStatus.CLOSED,
                    "last_seq": MESSAGES_PER_CONVERSATION,
                    "created_at": started_at + timedelta(seconds=number * 60),
                }
            )
            distinct: set[int] = set()
            for _ in range(MESSAGES_PER_CONVERSATION):
                picked = rng.choices(range(VOCABULARY), weights=weights, k=WORDS_PER_MESSAGE)
                distinct.update(picked)
                fts_rows.append(
                    {"body": " ".join(words[i] for i in picked), "cid": conversation_id.hex}
                )
            term_rows.extend(
                {
                    "workspace_id": workspace.id,
                    "term_hash": hashes[i],
                    "conversation_id": conversation_id,
                }
                for i in distinct
            )
            await flush()
        await flush(force=True)
        build_seconds = time.perf_counter() - build_started
        async with rt.db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
            index_rows = (await conn.execute(text("SELECT count(*) FROM search_terms"))).scalar()

        admin = Principal(
            kind="operator",
            workspace_id=workspace.id,
            role=Role.ADMIN,
            operator_id=uuid.uuid4(),
            session_id=uuid.uuid4(),
        )
        ours: list[float] = []
        theirs: list[float] = []
        per_word: dict[str, dict[str, float]] = {}
        for rank in QUERY_RANKS:
            word = words[rank]
            mine: list[float] = []
            fts: list[float] = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                found = await search.search_conversations(rt, admin, text=word)
                mine.append(time.perf_counter() - started)
                started = time.perf_counter()
                async with rt.db.engine.connect() as conn:
                    baseline = (
                        await conn.execute(
                            text(
                                "SELECT c.id FROM conversations c WHERE c.workspace_id = :w "
                                "AND c.id IN (SELECT conversation_id FROM fts WHERE fts MATCH "
                                ":q) ORDER BY c.created_at DESC, c.id LIMIT 50"
                            ),
                            {"w": workspace.id.hex, "q": word},
                        )
                    ).all()
                fts.append(time.perf_counter() - started)
            assert found and baseline, f"no match for rank {rank}"
            ours.extend(mine)
            theirs.extend(fts)
            per_word[f"rank_{rank}"] = {
                "index_ms": round(_median_ms(mine), 2),
                "fts5_ms": round(_median_ms(fts), 2),
                "matches_shown": len(found),
            }
    value = _median_ms(ours)
    base = _median_ms(theirs)
    return Result(
        name="search",
        value=round(value, 2),
        unit="ms per word query",
        baseline=round(base, 2),
        baseline_name="SQLite FTS5 over the same plaintext",
        ratio=round(value / base, 2) if base else 0.0,
        goal=f"< {GOAL_MS:.0f} ms at {messages:,} messages",
        goal_met=value < GOAL_MS,
        notes="includes policy scope, visitor profiles and rendering; FTS5 only the SQL",
        details={
            "messages": messages,
            "conversations": conversations,
            "index_rows": index_rows,
            "build_seconds": round(build_seconds, 1),
            "per_word": per_word,
        },
    )
