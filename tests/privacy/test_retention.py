"""Retention walked through simulated time: each channel goes active -> archived -> end of
life at its policy's boundaries, statistics survive unchanged, held conversations are skipped
and reported, and the visitor is erased with their last conversation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from confide.audit.models import AuditEvent
from confide.chat.models import Channel, Conversation, Message, Visitor
from confide.privacy.models import Subject
from confide.privacy.retention.models import ConversationStatistics, RetentionRun
from confide.privacy.retention.policy import DEFAULT_ARCHIVE_DAYS, DEFAULT_RETENTION_DAYS
from confide.privacy.retention.run import do_dry_run_retention, do_run_retention
from confide.runtime import Runtime
from tests.conftest import World
from tests.privacy.helpers import admin_headers, set_privacy
from tests.privacy.retention_helpers import (
    conversation_state,
    count,
    ended_at,
    minute,
    seed_conversation,
    statistics_rows,
)


@pytest.mark.parametrize("channel", list(Channel), ids=lambda c: c.value)
async def test_each_channel_crosses_active_archive_and_end_of_life_at_its_boundaries(
    world: World, client: httpx.AsyncClient, rt: Runtime, channel: Channel
) -> None:
    admin = await admin_headers(world)
    seeded = await seed_conversation(rt, client, admin, channel)
    ended = await ended_at(rt, seeded.conversation_id)
    active = timedelta(days=DEFAULT_RETENTION_DAYS[channel.value])
    archive = timedelta(days=DEFAULT_ARCHIVE_DAYS[channel.value])
    expected = {"web": 1095, "social": 1095, "call": 365, "sms": 365, "video": 365}
    assert active.days == expected[channel.value] and archive.days == 1825

    steps = [
        (ended + active - minute(), "active"),
        (ended + active + minute(), "archived"),
        (ended + active + archive - minute(), "archived"),
        (ended + active + archive + minute(), "destroyed"),
    ]
    key = str(seeded.conversation_id)
    for as_of, state in steps:
        run = await do_run_retention(rt, as_of=as_of)
        assert run.status == "finished"
        assert await conversation_state(rt, seeded.conversation_id) == state, as_of
        live, archived = (
            await rt.keyring.store.data_key(key),
            await rt.keyring.store.archived_data_key(key),
        )
        # The key lives, then only under the archive key, then nowhere (tombstoned).
        assert (live is not None, archived is not None) == {
            "active": (True, False),
            "archived": (False, True),
            "destroyed": (False, False),
        }[state]
    assert await rt.keyring.store.is_destroyed(key)
    [row] = await statistics_rows(rt)
    assert row["conversation_id"] is None and row["channel"] == channel.value
    assert (row["visitor_messages"], row["operator_messages"], row["csat_score"]) == (2, 1, 4)
    assert row["outcome"] == "answered" and row["period"] == "week"  # one chat that day: k < 5
    assert row["day"].weekday() == 0
    async with rt.db.session() as session:
        assert await session.get(Visitor, seeded.visitor_id) is None  # nothing else kept
        messages = await session.scalars(
            select(Message).where(Message.conversation_id == seeded.conversation_id)
        )
        assert messages.all() == []


async def test_no_archive_goes_straight_to_end_of_life_and_months_setting_wins(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    settings = await set_privacy(client, admin, archive_days={"web": 0})
    assert settings["archive_days"]["web"] == 0
    seeded = await seed_conversation(rt, client, admin)
    ended = await ended_at(rt, seeded.conversation_id)
    run = await do_run_retention(rt, as_of=ended + timedelta(days=1095) + minute())
    assert await conversation_state(rt, seeded.conversation_id) == "destroyed"
    assert run.report is not None
    counts = run.report["workspaces"][str(await world.workspace())]["web"]
    assert (counts["archived"], counts["destroyed"], counts["visitors_erased"]) == (0, 1, 1)

    settings = await set_privacy(client, admin, delete_after_months=2)
    assert settings["delete_after_months"] == 2
    other = await seed_conversation(rt, client, admin, Channel.SMS)
    ended = await ended_at(rt, other.conversation_id)
    await do_run_retention(rt, as_of=ended + timedelta(days=58))
    assert await conversation_state(rt, other.conversation_id) == "active"
    await do_run_retention(rt, as_of=ended + timedelta(days=63))
    assert await conversation_state(rt, other.conversation_id) == "destroyed"


async def test_a_held_conversation_is_skipped_and_reported_at_every_step(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    held = await seed_conversation(rt, client, admin, Channel.SMS)
    free = await seed_conversation(rt, client, admin, Channel.SMS)
    async with rt.db.transaction() as tx:
        conversation = await tx.get(Conversation, held.conversation_id)
        assert conversation is not None
        conversation.held = True
    ended = await ended_at(rt, free.conversation_id)
    run = await do_run_retention(rt, as_of=ended + timedelta(days=365 + 1825 + 1))
    assert await conversation_state(rt, held.conversation_id) == "active"
    assert await conversation_state(rt, free.conversation_id) == "destroyed"
    assert run.report is not None
    sms = run.report["workspaces"][str(await world.workspace())]["sms"]
    assert (sms["destroyed"], sms["held"], sms["skipped"]) == (1, 1, {"legal_hold": 1})
    async with rt.db.session() as session:
        assert await session.get(Visitor, held.visitor_id) is not None
        subject = await session.scalar(
            select(Subject)
            .join(Visitor, Visitor.subject_id == Subject.id)
            .where(Visitor.id == held.visitor_id)
        )
        assert subject is not None and subject.erased_at is None
    # Held data is not overdue: the hold explains why it is still here.
    assert run.report["overdue"] == []


async def test_a_visitor_with_a_conversation_kept_longer_is_not_erased(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    await set_privacy(client, admin, retention_days={"sms": 30}, archive_days={"sms": 0})
    seeded = await seed_conversation(rt, client, admin, Channel.SMS)
    # The same visitor also chats on the web, kept three years.
    from confide.chat.conversations import do_start_conversation
    from confide.chat.visitors import authenticate_visitor_token

    principal = await authenticate_visitor_token(rt, seeded.token)
    web = (await do_start_conversation(rt, principal, visitor_id=seeded.visitor_id)).conversation
    ended = await ended_at(rt, seeded.conversation_id)
    await do_run_retention(rt, as_of=ended + timedelta(days=31))
    assert await conversation_state(rt, seeded.conversation_id) == "destroyed"
    assert await conversation_state(rt, web.id) == "active"
    async with rt.db.session() as session:
        assert await session.get(Visitor, seeded.visitor_id) is not None


async def test_dry_run_counts_what_a_run_then_does_and_both_are_audited(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    seeded = [await seed_conversation(rt, client, admin, Channel.CALL) for _ in range(3)]
    as_of = await ended_at(rt, seeded[-1].conversation_id) + timedelta(days=366)
    dry = await do_dry_run_retention(rt, as_of=as_of)
    assert dry.dry_run and dry.report is not None
    workspace = str(await world.workspace())
    assert dry.report["workspaces"][workspace]["call"]["archived"] == 3
    assert {await conversation_state(rt, s.conversation_id) for s in seeded} == {"active"}
    run = await do_run_retention(rt, as_of=as_of)
    assert run.report is not None
    assert run.report["workspaces"][workspace]["call"]["archived"] == 3
    assert {await conversation_state(rt, s.conversation_id) for s in seeded} == {"archived"}
    async with rt.db.session() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "retention.dry_run" in actions and "retention.run" in actions
    assert await count(rt, RetentionRun) == 2


async def test_dry_run_counts_the_visitors_end_of_life_would_erase(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    from confide.chat.conversations import do_start_conversation
    from confide.chat.visitors import authenticate_visitor_token

    admin = await admin_headers(world)
    seeded = [await seed_conversation(rt, client, admin, Channel.CALL) for _ in range(3)]
    # The third visitor also has a web conversation, kept longer: they are not erased.
    principal = await authenticate_visitor_token(rt, seeded[2].token)
    await do_start_conversation(rt, principal, visitor_id=seeded[2].visitor_id)
    # Past a call's year of active retention and five years of archive, within web's.
    as_of = await ended_at(rt, seeded[-1].conversation_id) + timedelta(days=365 + 1825 + 2)
    workspace = str(await world.workspace())
    dry = await do_dry_run_retention(rt, as_of=as_of)
    assert dry.report is not None
    counted = dry.report["workspaces"][workspace]["call"]
    assert (counted["destroyed"], counted["visitors_erased"]) == (3, 2)
    assert {await conversation_state(rt, s.conversation_id) for s in seeded} == {"active"}
    run = await do_run_retention(rt, as_of=as_of)
    assert run.report is not None
    done = run.report["workspaces"][workspace]["call"]
    assert (done["destroyed"], done["visitors_erased"]) == (3, 2)


async def test_a_run_of_many_batches_destroys_every_key_before_it_returns(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    seeded = [await seed_conversation(rt, client, admin, Channel.CALL) for _ in range(3)]
    as_of = await ended_at(rt, seeded[-1].conversation_id) + timedelta(days=365 + 1825 + 2)
    run = await do_run_retention(rt, as_of=as_of, batch_size=1)
    assert run.batches == 3  # one conversation each; their keys gathered into one purge
    for s in seeded:
        assert await rt.keyring.store.data_key(str(s.conversation_id)) is None
        assert await rt.keyring.store.is_destroyed(str(s.conversation_id))
    assert await rt.keyring.store.tombstoned_but_present(10) == []  # the visitors' keys too


async def test_statistics_are_coarsened_to_the_week_below_five_conversations_a_day(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    busy = [await seed_conversation(rt, client, admin) for _ in range(5)]
    quiet = await seed_conversation(rt, client, admin, Channel.SMS)
    # One group: six conversations that day, so every row keeps its day.
    day = await ended_at(rt, busy[0].conversation_id) + timedelta(days=1)
    await do_run_retention(rt, as_of=day)
    rows = await statistics_rows(rt)
    assert len(rows) == 6 and {r["period"] for r in rows} == {"day"}
    assert all(r["conversation_id"] is not None for r in rows)
    # Another group's single conversation on another day is kept per week.
    group = await world.group("Billing")
    async with rt.db.transaction() as tx:
        conversation = await tx.get(Conversation, quiet.conversation_id)
        assert conversation is not None
        await tx.execute(
            ConversationStatistics.__table__.delete().where(
                ConversationStatistics.conversation_id == quiet.conversation_id
            )
        )
        conversation.group_id = group
    await do_run_retention(rt, as_of=day + timedelta(days=1))
    async with rt.db.session() as session:
        row = await session.scalar(
            select(ConversationStatistics).where(
                ConversationStatistics.conversation_id == quiet.conversation_id
            )
        )
        assert row is not None and row.period == "week"


def _unused(_: uuid.UUID) -> None:  # keep uuid imported for helpers' annotations
    return None
