"""The unit of work: after-commit work runs only after a commit, in order, and a failing
callback never undoes the commit or stops the others."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from confide.access.models import Workspace
from confide.runtime import Runtime


async def _workspaces(rt: Runtime) -> int:
    async with rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Workspace)) or 0)


async def test_after_commit_work_runs_once_the_unit_has_committed(rt: Runtime) -> None:
    seen: list[tuple[str, int]] = []

    async def later(label: str) -> None:
        seen.append((label, await _workspaces(rt)))  # reads what the unit wrote

    async with rt.db.transaction() as tx:
        tx.add(Workspace(slug="uow", name="Unit of work"))
        tx.on_commit(later, "first")
        tx.on_commit(lambda: seen.append(("second", -1)))
        assert seen == []
    assert seen == [("first", 1), ("second", -1)]


async def test_a_rolled_back_unit_runs_none_of_its_after_commit_work(rt: Runtime) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as tx:
            tx.add(Workspace(slug="rolled", name="Rolled back"))
            tx.on_commit(seen.append, "published")
            raise RuntimeError("injected")
    assert seen == []
    assert await _workspaces(rt) == 0


async def test_a_failing_callback_is_logged_by_type_and_the_rest_still_run(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken() -> None:
        raise ValueError("jane@example.invalid")  # text that must not reach the log

    with caplog.at_level(logging.ERROR, logger="confide.db"):
        async with rt.db.transaction() as tx:
            tx.add(Workspace(slug="kept", name="Kept"))
            tx.on_commit(broken)
            tx.on_commit(seen.append, "after")
    assert seen == ["after"]
    assert await _workspaces(rt) == 1
    assert "ValueError" in caplog.text and "jane@" not in caplog.text
