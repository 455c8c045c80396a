"""Purpose-bound visitor attributes: declared with purpose and retention, sealed, expired on
their own clock by a job, exported and erased with the visitor."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from confide.access.models import Role
from confide.chat.attachment_models import AttributeValue
from confide.chat.attributes import expire_batch, values_for_export
from confide.chat.models import Visitor
from confide.core import clock
from confide.jobs.queue import do_enqueue_job
from confide.jobs.worker import Worker
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.jobs.helpers import silence_schedules


async def _count_values(world: World) -> int:
    async with world.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AttributeValue)) or 0)


async def _visitor_id(world: World, vuid: str) -> str:
    async with world.rt.db.session() as session:
        return str(await session.scalar(select(Visitor.id).where(Visitor.vuid == vuid)))


async def test_each_value_expires_on_its_own_clock(world: World) -> None:
    await silence_schedules(world.rt)
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    support = await world.group("Support")
    sales = await world.group("Sales")
    ben = await world.operator("ben", Role.AGENT, groups=[support])
    agent = await world.headers(ben)
    for name, purpose, days in (
        ("shoe_size", "Size advice", 90),
        ("newsletter_topic", "Choosing what we write about", 30),
    ):
        defined = await world.client.post(
            "/api/v1/visitor-attributes",
            json={"name": name, "purpose": purpose, "retention_days": days},
            headers=admin,
        )
        assert defined.status_code == 201, defined.text
    refused = await world.client.post(
        "/api/v1/visitor-attributes",
        json={"name": "x", "purpose": "p", "retention_days": 1},
        headers=agent,
    )
    assert refused.status_code == 403
    stranger = await world.headers(await world.operator("cy", Role.AGENT, groups=[sales]))
    visitor = await new_visitor(world.client)
    visitor_id = await _visitor_id(world, visitor.vuid)
    path = f"/api/v1/visitors/{visitor_id}/attributes"
    # An agent sees a visitor's values only through a conversation they may read.
    assert (await world.client.get(path, headers=agent)).status_code == 404
    await start_chat(world.client, visitor, "Which size?", group_id=support)
    assert (await world.client.get(path, headers=stranger)).status_code == 404
    undeclared = await world.client.put(f"{path}/height", json={"value": "180"}, headers=agent)
    assert undeclared.status_code == 404
    assert (
        await world.client.put(f"{path}/shoe_size", json={"value": "EU 42"}, headers=agent)
    ).status_code == 200
    clock.advance(timedelta(days=20).total_seconds())
    agent = await world.headers(ben)  # signed in again: tokens do not live 20 days
    assert (
        await world.client.put(f"{path}/newsletter_topic", json={"value": "Trail"}, headers=agent)
    ).status_code == 200
    # Sealed at rest.
    async with world.rt.db.session() as session:
        sealed = (await session.scalars(select(AttributeValue.value_sealed))).all()
    assert all("EU 42" not in s and "Trail" not in s for s in sealed)
    values = (await world.client.get(path, headers=agent)).json()["attributes"]
    assert [(v["name"], v["value"], v["purpose"]) for v in values] == [
        ("newsletter_topic", "Trail", "Choosing what we write about"),
        ("shoe_size", "EU 42", "Size advice"),
    ]

    # Day 60: the topic (30 days, set on day 20) is past its time, the size (90 days) is not.
    clock.advance(timedelta(days=40, seconds=1).total_seconds())
    await do_enqueue_job(world.rt, "expire_visitor_attributes")
    await Worker(world.rt).run(once=True)
    agent = await world.headers(ben)
    values = (await world.client.get(path, headers=agent)).json()["attributes"]
    assert [v["name"] for v in values] == ["shoe_size"]
    assert await _count_values(world) == 1
    # Day 91: the size goes too.
    clock.advance(timedelta(days=31).total_seconds())
    await do_enqueue_job(world.rt, "expire_visitor_attributes")
    await Worker(world.rt).run(once=True)
    assert await _count_values(world) == 0
    agent = await world.headers(ben)
    listed = (await world.client.get("/api/v1/visitor-attributes", headers=agent)).json()
    assert [(a["name"], a["retention_days"]) for a in listed["attributes"]] == [
        ("newsletter_topic", 30),
        ("shoe_size", 90),
    ]


async def test_expiry_runs_in_bounded_batches(world: World) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    await world.client.post(
        "/api/v1/visitor-attributes",
        json={"name": "shoe_size", "purpose": "Size advice", "retention_days": 1},
        headers=admin,
    )
    for _ in range(5):
        visitor_id = await _visitor_id(world, (await new_visitor(world.client)).vuid)
        response = await world.client.put(
            f"/api/v1/visitors/{visitor_id}/attributes/shoe_size",
            json={"value": "EU 40"},
            headers=admin,
        )
        assert response.status_code == 200
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    deleted = []
    while True:
        async with world.rt.db.transaction() as tx:
            n = await expire_batch(tx, batch_size=2)
        deleted.append(n)
        if n < 2:
            break
    assert deleted == [2, 2, 1]


async def test_values_are_exported_and_erased_with_the_visitor(world: World) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    await world.client.post(
        "/api/v1/visitor-attributes",
        json={"name": "shoe_size", "purpose": "Size advice", "retention_days": 90},
        headers=admin,
    )
    visitor_id = await _visitor_id(world, (await new_visitor(world.client)).vuid)
    await world.client.put(
        f"/api/v1/visitors/{visitor_id}/attributes/shoe_size",
        json={"value": "EU 44"},
        headers=admin,
    )
    async with world.rt.db.session() as session:
        exported = await values_for_export(world.rt, session, uuid.UUID(visitor_id))
    assert [(v["name"], v["value"], v["purpose"]) for v in exported] == [
        ("shoe_size", "EU 44", "Size advice")
    ]
    erased = await world.client.post(f"/api/v1/visitors/{visitor_id}/erase", headers=admin)
    assert erased.status_code == 200, erased.text
    assert await _count_values(world) == 0
