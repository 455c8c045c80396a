"""The policy's conversation rules give the same answer in Python and in the database.

Each rule is one SQLAlchemy expression: list queries run it as SQL, single reads evaluate it in
Python. Hypothesis draws conversations (workspace, group, assignee, status, visitor, lifecycle,
restricted, held) and principals (kind, role, groups, MFA state, grants live or expired, for
this workspace or another), writes the conversations to the suite's real database (SQLite, or
PostgreSQL with ``CONFIDE_TEST_BACKEND=postgres``) and checks that the rows the WHERE clause
returns are exactly those the Python check admits, for facts in memory and for loaded rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from confide.access import policy
from confide.access.grants import ArchiveJustification, Grant, SupportScope
from confide.access.models import Role
from confide.access.policy import ConversationAccess, Principal
from confide.access.rules import FACTS, ConversationColumns, holds
from confide.chat.conversations import facts_of
from confide.chat.models import (
    Channel,
    Conversation,
    ConversationLifecycle,
    ConversationStatus,
)
from confide.chat.visitors import add_visitor
from confide.core import clock
from confide.runtime import Runtime
from tests.conftest import World

COLUMNS = cast(ConversationColumns, Conversation)


@dataclass
class Universe:
    """Real rows the drawn conversations point at: two workspaces with groups, operators and
    visitors (foreign keys hold on both backends)."""

    workspaces: list[uuid.UUID]
    groups: list[uuid.UUID]
    operators: list[uuid.UUID]
    visitors: list[uuid.UUID]


@pytest.fixture
async def universe(rt: Runtime, world: World) -> Universe:
    acme, globex = await world.workspace("acme"), await world.workspace("globex")
    groups = [
        await world.group("Sales"),
        await world.group("Support"),
        await world.group("Billing"),
        await world.group("Sales", "globex"),
    ]
    operators = [
        (await world.operator(name, Role.AGENT, groups=groups[:1])).id
        for name in ("ann", "ben", "cid")
    ]
    operators.append((await world.operator("gus", Role.AGENT, slug="globex")).id)
    async with rt.db.transaction() as session:
        visitors = [(await add_visitor(rt, session, ws)).id for ws in (acme, acme, globex)]
    return Universe([acme, globex], groups, operators, visitors)


def _optional(values: list[uuid.UUID]) -> st.SearchStrategy[uuid.UUID | None]:
    return st.one_of(st.none(), st.sampled_from(values))


def _conversations(u: Universe) -> st.SearchStrategy[list[dict[str, Any]]]:
    one = st.fixed_dictionaries(
        {
            "workspace_id": st.sampled_from(u.workspaces),
            "group_id": _optional(u.groups),
            "assignee_id": _optional(u.operators),
            "status": st.sampled_from(list(ConversationStatus)),
            "visitor_id": st.sampled_from(u.visitors),
            "lifecycle": st.sampled_from(list(ConversationLifecycle)),
            "restricted": st.booleans(),
            "held": st.booleans(),
        }
    )
    return st.lists(one, min_size=1, max_size=12)


@st.composite
def _grant(draw: st.DrawFn, u: Universe, ids: list[uuid.UUID], now: datetime) -> Grant:
    workspace_id = draw(st.sampled_from(u.workspaces))
    # Live, expired, or expiring exactly now (which counts as expired).
    expires_at = now + timedelta(seconds=draw(st.sampled_from([-3600, -1, 0, 1, 3600])))
    named = st.sampled_from([*ids, uuid.uuid4()])
    if draw(st.booleans()):
        scope = draw(st.sampled_from(list(SupportScope)))
        one = draw(named) if scope is SupportScope.CONVERSATION else None
        return Grant.support(workspace_id, scope, expires_at, one)
    closed = draw(st.sampled_from([None, now - timedelta(seconds=1), now + timedelta(hours=1)]))
    return Grant.archive_custodian(
        workspace_id,
        draw(st.sets(named, min_size=1, max_size=4)),
        draw(st.sampled_from(list(ArchiveJustification))),
        expires_at,
        closed,
    )


@st.composite
def _principal(draw: st.DrawFn, u: Universe, ids: list[uuid.UUID], now: datetime) -> Principal:
    kind = draw(st.sampled_from(["operator", "operator", "operator", "visitor", "api_key"]))
    workspace_id = draw(st.one_of(st.none(), st.sampled_from(u.workspaces)))
    if kind == "visitor":
        visitor_id = draw(st.one_of(st.sampled_from(u.visitors), st.just(uuid.uuid4())))
        return Principal(kind="visitor", workspace_id=workspace_id, visitor_id=visitor_id)
    if kind == "api_key":
        return Principal(kind="api_key", workspace_id=workspace_id, api_key_id=uuid.uuid4())
    return Principal(
        kind="operator",
        workspace_id=workspace_id,
        role=draw(st.sampled_from(list(Role))),
        operator_id=draw(st.one_of(_optional(u.operators), st.just(uuid.uuid4()))),
        group_ids=frozenset(draw(st.sets(st.sampled_from(u.groups), max_size=3))),
        mfa_enrolment_pending=draw(st.booleans()),
        grants=tuple(draw(st.lists(_grant(u, ids, now), max_size=3))),
    )


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_python_and_sql_answers_of_every_conversation_rule_agree(
    rt: Runtime, universe: Universe, data: st.DataObject
) -> None:
    # The fixtures are built once for all examples (hence the health check suppressed): each
    # example adds its own conversations and only ever looks at those.
    u = universe
    now = clock.utcnow()
    drawn = data.draw(_conversations(u), label="conversations")
    async with rt.db.transaction() as session:
        rows = [Conversation(id=uuid.uuid4(), channel=Channel.WEB, **facts) for facts in drawn]
        session.add_all(rows)
    ids = [row.id for row in rows]
    principal = data.draw(_principal(u, ids, now), label="principal")
    access = data.draw(st.sampled_from(list(ConversationAccess)), label="access")

    async with rt.db.session() as session:
        rule = policy.conversation_rule(principal, COLUMNS, access, now=now)
        in_sql = set(
            await session.scalars(select(Conversation.id).where(Conversation.id.in_(ids), rule))
        )
        destroyable = set(
            await session.scalars(
                select(Conversation.id).where(
                    Conversation.id.in_(ids), policy.destroyable_rule(COLUMNS)
                )
            )
        )
        loaded = (await session.scalars(select(Conversation).where(Conversation.id.in_(ids)))).all()
        reports: set[uuid.UUID] | None = None
        if policy.Action.REPORTS_READ in policy.allowed_actions(principal, now=now):
            reports = set(
                await session.scalars(
                    select(Conversation.id).where(
                        Conversation.id.in_(ids), policy.report_rule(principal, COLUMNS)
                    )
                )
            )

    by_facts = {
        row.id
        for row in rows
        if policy.can_work_conversation(principal, facts_of(row), access, now=now)
    }
    by_loaded_rows = {
        row.id for row in loaded if policy.can_work_conversation(principal, row, access, now=now)
    }
    assert in_sql == by_facts == by_loaded_rows, (principal, access)
    assert destroyable == {row.id for row in rows if policy.may_destroy(facts_of(row))}
    if reports is not None:
        expected = {
            row.id for row in rows if holds(policy.report_rule(principal, FACTS), facts_of(row))
        }
        assert reports == expected
