"""Actions own their transaction: a failure anywhere inside leaves nothing half-written."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from confide.access.models import Operator, Role, Workspace
from confide.access.operators import do_create_operator
from confide.access.workspaces import do_create_workspace
from confide.core.errors import Conflict
from confide.privacy.models import Subject
from confide.runtime import Runtime
from tests.conftest import PASSWORD


async def _counts(rt: Runtime) -> tuple[int, int]:
    async with rt.db.session() as session:
        operators = await session.scalar(select(func.count()).select_from(Operator))
        subjects = await session.scalar(select(func.count()).select_from(Subject))
    return int(operators or 0), int(subjects or 0)


async def test_failed_operator_creation_leaves_no_subject_behind(rt: Runtime) -> None:
    workspace = await do_create_workspace(rt, slug="acme", name="Acme")
    await do_create_operator(
        rt, None, workspace_id=workspace.id, username="ann", password=PASSWORD, role=Role.AGENT
    )
    before = await _counts(rt)
    with pytest.raises(Conflict):
        await do_create_operator(
            rt, None, workspace_id=workspace.id, username="ann", password=PASSWORD, role=Role.AGENT
        )
    assert await _counts(rt) == before


async def test_exception_inside_a_transaction_rolls_everything_back(rt: Runtime) -> None:
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as session:
            session.add(Workspace(slug="ghost", name="Ghost"))
            await session.flush()
            raise RuntimeError("injected failure after the insert")
    async with rt.db.session() as session:
        assert await session.scalar(select(Workspace).where(Workspace.slug == "ghost")) is None


async def test_concurrent_writers_do_not_fail_with_locked_database(rt: Runtime) -> None:
    workspace = await do_create_workspace(rt, slug="acme", name="Acme")

    async def create(i: int) -> None:
        await do_create_operator(
            rt,
            None,
            workspace_id=workspace.id,
            username=f"op{i}",
            password=PASSWORD,
            role=Role.AGENT,
        )

    await asyncio.gather(*(create(i) for i in range(12)))
    assert await _counts(rt) == (12, 12)
