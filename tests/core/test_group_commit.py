"""Group commit on SQLite: units of work that arrive together share one COMMIT, none returns
(or runs its after-commit work) before it, and a unit that fails rolls back alone.

These tests drive the SQLite mechanism itself on a migrated SQLite file, whichever backend
the suite runs on (PostgreSQL gives each unit its own transaction)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from confide.access.models import Workspace
from confide.core.db import Database, UnitOfWork
from confide.core.migrate import upgrade
from tests.conftest import DatabaseTemplate


@pytest.fixture
async def db(tmp_path: Path, database_template: DatabaseTemplate) -> AsyncIterator[Database]:
    path = tmp_path / "group.db"
    if database_template.sqlite_template is not None:
        shutil.copyfile(database_template.sqlite_template, path)
        database = Database(f"sqlite+aiosqlite:///{path}")
    else:
        database = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(database)
    yield database
    await database.dispose()


async def _slugs(db: Database) -> set[str]:
    async with db.session() as session:
        return set((await session.scalars(select(Workspace.slug))).all())


async def _until(condition: object) -> None:
    """Let other tasks run until ``condition()`` holds (no clock involved)."""
    for _ in range(100_000):  # turns of the event loop, not time
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("the units never joined the batch")


class Holder:
    """A unit of work that holds its turn in the batch until released, so the test decides
    which units share a batch and can look at them while it is still open."""

    def __init__(self, db: Database) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.task = asyncio.create_task(self._run(db))

    async def _run(self, db: Database) -> None:
        async with db.transaction():
            self.entered.set()
            await self.release.wait()


async def _create(
    db: Database, slug: str, log: list[str], *, fail: bool = False, at_once: bool = False
) -> None:
    async with db.transaction() as tx:
        if at_once:  # before any statement: its SAVEPOINT has not reached SQLite yet
            raise RuntimeError("injected failure before the unit wrote anything")
        tx.add(Workspace(slug=slug, name=slug.title()))
        await tx.flush()
        tx.on_commit(log.append, slug)
        if fail:
            raise RuntimeError("injected failure in one unit of the batch")


def _joined(db: Database) -> int:
    assert db.group_commit is not None
    batch = db.group_commit._open
    return batch.joined if batch is not None else 0


async def test_units_that_arrive_together_share_one_commit_and_none_returns_before_it(
    db: Database,
) -> None:
    assert db.group_commit is not None
    log: list[str] = []
    first = Holder(db)
    await first.entered.wait()
    units = [asyncio.create_task(_create(db, f"w{i}", log)) for i in range(5)]
    await _until(lambda: _joined(db) == 6)
    last = Holder(db)
    await _until(lambda: _joined(db) == 7)
    first.release.set()
    await last.entered.wait()  # every unit before it has finished its block

    assert not any(task.done() for task in units)  # nobody returned before the COMMIT
    assert log == []  # and no after-commit work ran
    assert await _slugs(db) == set()  # another connection sees nothing yet

    before = db.group_commit.batches_committed
    last.release.set()
    await asyncio.gather(first.task, last.task, *units)
    assert db.group_commit.batches_committed == before + 1
    assert sorted(log) == [f"w{i}" for i in range(5)]
    assert await _slugs(db) == {f"w{i}" for i in range(5)}


async def test_a_failing_unit_rolls_back_alone_and_its_batch_mates_commit(db: Database) -> None:
    assert db.group_commit is not None
    log: list[str] = []
    holder = Holder(db)
    await holder.entered.wait()
    units = [
        asyncio.create_task(_create(db, "kept-1", log)),
        asyncio.create_task(_create(db, "failed", log, fail=True)),
        asyncio.create_task(_create(db, "kept-1", log)),  # duplicate slug: IntegrityError
        asyncio.create_task(_create(db, "kept-2", log)),
        asyncio.create_task(_create(db, "never", log, at_once=True)),
    ]
    await _until(lambda: _joined(db) == 6)
    before = db.group_commit.batches_committed
    holder.release.set()
    outcomes = await asyncio.gather(holder.task, *units, return_exceptions=True)

    assert isinstance(outcomes[2], RuntimeError)
    assert type(outcomes[3]).__name__ == "IntegrityError"
    assert outcomes[1] is None and outcomes[4] is None
    assert isinstance(outcomes[5], RuntimeError)
    assert db.group_commit.batches_committed == before + 1
    assert await _slugs(db) == {"kept-1", "kept-2"}
    assert sorted(log) == ["kept-1", "kept-2"]  # the failed units ran no after-commit work


async def test_a_failed_commit_fails_every_unit_of_the_batch_and_runs_no_after_commit_work(
    db: Database,
) -> None:
    log: list[str] = []
    holder = Holder(db)
    await holder.entered.wait()
    units = [asyncio.create_task(_create(db, f"lost{i}", log)) for i in range(3)]
    await _until(lambda: _joined(db) == 4)

    def refuse(connection: object) -> None:
        raise RuntimeError("injected: the disk refused the COMMIT")

    event.listen(db.engine.sync_engine, "commit", refuse)
    try:
        holder.release.set()
        outcomes = await asyncio.gather(holder.task, *units, return_exceptions=True)
    finally:
        event.remove(db.engine.sync_engine, "commit", refuse)
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert log == []
    assert await _slugs(db) == set()
    await _create(db, "after", log)  # the next batch starts cleanly
    assert await _slugs(db) == {"after"}


async def test_sequential_units_each_commit_on_their_own(db: Database) -> None:
    log: list[str] = []
    for i in range(3):
        await _create(db, f"s{i}", log)
        assert await _slugs(db) == {f"s{j}" for j in range(i + 1)}
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 3


async def test_group_commit_can_be_turned_off(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}", group_commit_max_units=1)
    try:
        assert database.group_commit is None
        async with database.transaction() as tx:
            assert isinstance(tx, UnitOfWork)
    finally:
        await database.dispose()


async def test_a_unit_that_failed_on_a_batch_mates_row_raises_once_that_row_is_committed(
    db: Database,
) -> None:
    seen_after_failure: list[set[str]] = []

    async def compare_and_set() -> None:
        try:
            await _create(db, "same", [])
        except IntegrityError:
            seen_after_failure.append(await _slugs(db))  # read from another connection

    holder = Holder(db)
    await holder.entered.wait()
    units = [asyncio.create_task(compare_and_set()) for _ in range(2)]
    await _until(lambda: _joined(db) == 3)
    holder.release.set()
    await asyncio.gather(holder.task, *units)
    assert seen_after_failure == [{"same"}]


async def test_a_unit_cancelled_while_its_batch_commits_still_runs_its_after_commit_work(
    db: Database,
) -> None:
    log: list[str] = []
    first = Holder(db)
    await first.entered.wait()
    unit = asyncio.create_task(_create(db, "cancelled-caller", log))
    await _until(lambda: _joined(db) == 2)
    last = Holder(db)
    await _until(lambda: _joined(db) == 3)
    first.release.set()
    await last.entered.wait()  # the unit has written and waits for the COMMIT
    unit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await unit
    waiting = set(db.group_commit._tasks) if db.group_commit else set()
    last.release.set()
    await asyncio.gather(first.task, last.task, *waiting)
    assert await _slugs(db) == {"cancelled-caller"}
    assert log == ["cancelled-caller"]  # its event still went out after the COMMIT
