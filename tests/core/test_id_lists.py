"""An id list bound as one parameter (``confide.core.id_lists``) comes back as the same rows
and matches the same ids on both backends: ``unnest`` on PostgreSQL, ``json_each`` on SQLite."""

from __future__ import annotations

import uuid

from sqlalchemy import String, Uuid, select

from confide.access.models import Workspace
from confide.core.id_lists import id_in, id_rows
from confide.runtime import Runtime
from tests.conftest import World


async def test_an_id_list_comes_back_as_one_row_per_id(rt: Runtime) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    async with rt.db.session() as session:
        names = (await session.scalars(id_rows(session, String(), ["b", "a", "b"]))).all()
        uuids = (await session.scalars(id_rows(session, Uuid(), ids))).all()
    assert sorted(names) == ["a", "b", "b"]
    # As stored: UUIDs on PostgreSQL, 32 hex digits on SQLite.
    assert sorted(uuid.UUID(str(value)) for value in uuids) == sorted(ids)


async def test_id_in_matches_exactly_the_listed_rows(world: World, rt: Runtime) -> None:
    acme = await world.workspace("acme")
    await world.workspace("other")  # not listed: must not match
    async with rt.db.session() as session:
        found = await session.scalars(
            select(Workspace.id).where(id_in(session, Workspace.id, [acme, uuid.uuid4()]))
        )
        assert found.all() == [acme]
        assert (
            await session.scalars(select(Workspace.id).where(id_in(session, Workspace.id, [])))
        ).all() == []
