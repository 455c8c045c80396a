"""Batched writes on SQLite: write programs queued together run in one transaction (on the
loop's own connection, or on the driver's thread while another process writes), none returns
(or runs its after-commit work) before the COMMIT, a program that fails rolls back alone, and
the batch waits for the process's write lock like any other writer.

The mechanism is SQLite's; these tests drive it on a scratch SQLite file whichever backend the
suite runs on."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from confide.core.batched_writes import BatchedWrites
from confide.core.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "batched.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.executescript(
            "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
            "CREATE TABLE rows (id INTEGER PRIMARY KEY, parent INTEGER"
            " REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED);"
            "INSERT INTO parents (id) VALUES (1);"
        )
    database = Database(f"sqlite+aiosqlite:///{path}")
    yield database
    await database.dispose()


def _batched(db: Database) -> BatchedWrites:
    assert db.batched is not None
    return db.batched


def _committed(db: Database) -> list[int]:
    """The row ids another connection sees (committed rows only)."""
    with contextlib.closing(sqlite3.connect(db.url.split("///", 1)[1])) as connection:
        return [row_id for (row_id,) in connection.execute("SELECT id FROM rows ORDER BY id")]


def insert(row_id: int, parent: int = 1, fail: bool = False) -> Callable[[Any], int]:
    def program(connection: sqlite3.Connection) -> int:
        connection.execute("INSERT INTO rows (id, parent) VALUES (?, ?)", (row_id, parent))
        if fail:
            raise ValueError("refused after writing")
        return row_id

    return program


class AfterCommit:
    """After-commit work that records the values it ran for."""

    def __init__(self) -> None:
        self.ran: list[int] = []

    async def __call__(self, value: int) -> int:
        self.ran.append(value)
        return value


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(100_000):  # turns of the event loop, not time
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_programs_queued_together_share_one_commit_and_return_after_it(
    db: Database,
) -> None:
    batched = _batched(db)
    seen: list[tuple[int, list[int]]] = []

    async def after(value: int) -> str:
        seen.append((value, _committed(db)))  # runs after the COMMIT
        return f"stored {value}"

    results = await asyncio.gather(*(batched.run(insert(i), after) for i in (1, 2, 3)))
    assert results == ["stored 1", "stored 2", "stored 3"]
    assert batched.batches_committed == 1 and batched.programs_committed == 3
    assert seen == [(1, [1, 2, 3]), (2, [1, 2, 3]), (3, [1, 2, 3])]
    assert await batched.run(insert(4)) == 4  # without after-commit work: the value
    assert batched.batches_committed == 2
    assert _committed(db) == [1, 2, 3, 4]


async def test_a_failing_program_rolls_back_alone_and_its_batch_mates_commit(
    db: Database,
) -> None:
    batched = _batched(db)
    after = AfterCommit()
    outcomes = await asyncio.gather(
        batched.run(insert(1), after),
        batched.run(insert(2, fail=True), after),  # wrote its row, then raised
        batched.run(insert(1), after),  # the same primary key as its batch-mate
        batched.run(insert(3), after),
        return_exceptions=True,
    )
    assert outcomes[0] == 1 and outcomes[3] == 3
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert batched.batches_committed == 1
    assert after.ran == [1, 3]
    assert _committed(db) == [1, 3]


async def test_a_failed_commit_fails_every_member_and_runs_no_after_commit_work(
    db: Database,
) -> None:
    batched = _batched(db)
    after = AfterCommit()
    # Row 2 points at a parent that does not exist: the deferred key fails the COMMIT.
    outcomes = await asyncio.gather(
        batched.run(insert(1), after),
        batched.run(insert(2, parent=99), after),
        return_exceptions=True,
    )
    assert all(isinstance(o, sqlite3.IntegrityError) for o in outcomes), outcomes
    assert after.ran == [] and batched.batches_committed == 0
    assert _committed(db) == []
    assert await batched.run(insert(5), after) == 5  # the connection is usable again
    assert _committed(db) == [5]


async def test_a_caller_cancelled_while_it_waits_still_gets_its_after_commit_work_run(
    db: Database,
) -> None:
    batched = _batched(db)
    after = AfterCommit()
    async with db.transaction():  # holds the write lock: the program waits for it
        task = asyncio.create_task(batched.run(insert(7), after))
        await _until(lambda: len(batched._queue) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await _until(lambda: after.ran == [7])
    assert _committed(db) == [7]


async def test_programs_wait_for_the_write_lock_of_other_writers(db: Database) -> None:
    batched = _batched(db)
    started: list[int] = []

    def program(connection: sqlite3.Connection) -> int:
        started.append(1)
        return insert(8)(connection)

    async with db.transaction():  # a unit of work holds the process's write transaction
        task = asyncio.create_task(batched.run(program))
        for _ in range(1000):  # many turns of the loop: the program must still wait
            await asyncio.sleep(0)
        assert started == [] and not task.done()
    assert await task == 8
    assert started == [1]


async def test_a_batch_runs_on_the_loop_and_waits_off_it_while_another_process_writes(
    db: Database,
) -> None:
    batched = _batched(db)
    assert await batched.run(insert(1)) == 1
    assert batched.batches_on_driver == 0  # on the loop's own connection
    other = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
        other.execute("INSERT INTO rows (id, parent) VALUES (2, 1)")
        task = asyncio.create_task(batched.run(insert(3)))
        # The batch found the database locked and waits on the driver's thread, not the loop.
        await _until(lambda: batched.batches_on_driver == 1)
        assert not task.done()
        other.execute("COMMIT")
        assert await task == 3
    finally:
        other.close()
    assert _committed(db) == [1, 2, 3]
    assert await batched.run(insert(4)) == 4  # back on the loop
    assert batched.batches_on_driver == 1
