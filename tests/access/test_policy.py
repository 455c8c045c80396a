"""Unit tests of ``confide.access.policy``: principals and facts are built by hand, no database.

The expected permission sets are written out here on purpose (not derived from the module's
own tables), so a change to a role's rights has to be made twice: in the policy and here.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import ColumnElement, false
from sqlalchemy.dialects import sqlite

from confide.access import policy
from confide.access.grants import ArchiveJustification, Grant, SupportScope
from confide.access.models import Role
from confide.access.policy import (
    Action,
    ConversationAccess,
    ConversationFacts,
    OperatorFacts,
    Principal,
    ProfileView,
    VisitorView,
)
from confide.access.rules import ACTIVE, ARCHIVED, FACTS, WAITING
from confide.core import clock
from confide.core.errors import Forbidden, MfaEnrolmentRequired, NotFound

WS = uuid.UUID("00000000-0000-4000-8000-00000000aaaa")
OTHER_WS = uuid.UUID("00000000-0000-4000-8000-00000000bbbb")
SALES = uuid.UUID("00000000-0000-4000-8000-000000000001")
SUPPORT = uuid.UUID("00000000-0000-4000-8000-000000000002")
BILLING = uuid.UUID("00000000-0000-4000-8000-000000000003")

ALL_ACTIONS = frozenset(Action)
# Server-to-server calls of the host's backend: identify visitors, record calls/SMS/video.
API_KEY_ACTIONS = {
    "workspace.read",
    "visitors.identify",
    "conversations.record",
    "consent.proof_read",
}
EXPECTED_ACTIONS: dict[Role, set[str]] = {
    Role.ADMIN: {
        "workspace.read",
        "workspace.settings",
        "operators.list",
        "operators.manage",
        "groups.list",
        "groups.manage",
        "api_keys.manage",
        "reports.read",
        "conversations.work",
        "self.manage",
        "audit.read",
        "consent.proof_read",
        "subjects.erase",
        "subjects.export",
    },
    Role.MANAGER: {
        "workspace.read",
        "operators.list",
        "operators.manage",
        "groups.list",
        "reports.read",
        "conversations.work",
        "self.manage",
    },
    Role.AGENT: {
        "workspace.read",
        "operators.list",
        "groups.list",
        "conversations.work",
        "self.manage",
    },
    Role.ANALYST: {"workspace.read", "groups.list", "reports.read", "self.manage"},
    Role.SUPPORT: {"self.manage"},
}


def operator(
    role: Role,
    groups: tuple[uuid.UUID, ...] = (),
    *,
    workspace_id: uuid.UUID | None = WS,
    mfa_pending: bool = False,
) -> Principal:
    return Principal(
        kind="operator",
        workspace_id=None if role is Role.SUPPORT else workspace_id,
        role=role,
        operator_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        group_ids=frozenset(groups),
        mfa_enrolment_pending=mfa_pending,
    )


def api_key(workspace_id: uuid.UUID = WS) -> Principal:
    return Principal(kind="api_key", workspace_id=workspace_id, api_key_id=uuid.uuid4())


def visitor(workspace_id: uuid.UUID = WS) -> Principal:
    return Principal(kind="visitor", workspace_id=workspace_id, visitor_id=uuid.uuid4())


def target(
    role: Role = Role.AGENT,
    groups: tuple[uuid.UUID, ...] = (),
    *,
    workspace_id: uuid.UUID | None = WS,
) -> OperatorFacts:
    return OperatorFacts(uuid.uuid4(), workspace_id, role, frozenset(groups))


def as_facts(principal: Principal) -> OperatorFacts:
    assert principal.operator_id is not None and principal.role is not None
    return OperatorFacts(
        principal.operator_id, principal.workspace_id, principal.role, principal.group_ids
    )


def conversation(
    *,
    group: uuid.UUID | None = SALES,
    assignee: uuid.UUID | None = None,
    status: str = "waiting",
    workspace_id: uuid.UUID = WS,
    visitor_id: uuid.UUID | None = None,
    lifecycle: str = "active",
    restricted: bool = False,
    held: bool = False,
) -> ConversationFacts:
    return ConversationFacts(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        group_id=group,
        assignee_id=assignee,
        status=status,
        visitor_id=visitor_id or uuid.uuid4(),
        lifecycle=lifecycle,
        restricted=restricted,
        held=held,
    )


def soon() -> datetime:
    return clock.utcnow() + timedelta(hours=1)


def custodian(
    ids: set[uuid.UUID],
    *,
    expires_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> Grant:
    return Grant.archive_custodian(
        WS, ids, ArchiveJustification.LEGAL_REQUISITION, expires_at or soon(), closed_at
    )


def supporter(*grants: Grant) -> Principal:
    """A support account that entered workspace WS carrying ``grants``."""
    return replace(operator(Role.SUPPORT), workspace_id=WS, grants=grants)


def _matches_nothing(rule: ColumnElement[bool]) -> bool:
    """The rule is a plain FALSE: no row can match, whatever the columns hold."""
    return rule.compare(false())


def _sql(rule: ColumnElement[bool]) -> str:
    return str(rule.compile(dialect=sqlite.dialect()))


# -- actions per role -----------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_each_role_has_exactly_its_documented_actions(role: Role) -> None:
    principal = operator(role, (SALES,))
    assert {a.value for a in policy.allowed_actions(principal)} == EXPECTED_ACTIONS[role]


@pytest.mark.parametrize("role", list(Role))
def test_authorize_accepts_allowed_and_refuses_every_other_action(role: Role) -> None:
    principal = operator(role, (SALES,))
    for action in ALL_ACTIONS:
        if action.value in EXPECTED_ACTIONS[role]:
            policy.authorize(principal, action)
        else:
            with pytest.raises(Forbidden) as caught:
                policy.authorize(principal, action)
            # A plain refusal, not "enrol MFA first": this principal is fully signed in.
            assert not isinstance(caught.value, MfaEnrolmentRequired)
            assert caught.value.status_code == 403


@pytest.mark.parametrize("action", ["visitors.identify", "conversations.record"])
def test_nobody_but_an_api_key_may_make_server_to_server_calls(action: str) -> None:
    for role in Role:
        with pytest.raises(Forbidden):
            policy.authorize(operator(role, (SALES,)), Action(action))
    policy.authorize(api_key(), Action(action))


def test_api_key_may_only_read_the_workspace_and_make_server_to_server_calls() -> None:
    key = api_key()
    assert {a.value for a in policy.allowed_actions(key)} == API_KEY_ACTIONS
    for action in ALL_ACTIONS:
        if action.value in API_KEY_ACTIONS:
            policy.authorize(key, action)
        else:
            with pytest.raises(Forbidden):
                policy.authorize(key, action)
    assert Action.WORKSPACE_SETTINGS not in policy.allowed_actions(key)
    assert Action.API_KEYS_MANAGE not in policy.allowed_actions(key)


def test_api_key_cannot_list_operators_work_conversations_or_read_reports() -> None:
    key = api_key()
    with pytest.raises(Forbidden):
        policy.operator_list_scope(key)
    with pytest.raises(Forbidden):
        policy.report_scope(key)
    with pytest.raises(NotFound):
        policy.operator_view(key, target(Role.AGENT, (SALES,)))
    assert not policy.can_work_conversation(key, conversation())


def test_visitor_principal_may_do_no_operator_action() -> None:
    guest = visitor()
    assert policy.allowed_actions(guest) == frozenset()
    for action in ALL_ACTIONS:
        with pytest.raises(Forbidden):
            policy.authorize(guest, action)


def test_support_sees_nothing_and_may_only_manage_itself() -> None:
    support = operator(Role.SUPPORT)
    assert policy.allowed_actions(support) == {Action.SELF_MANAGE}
    with pytest.raises(Forbidden):
        policy.operator_list_scope(support)
    with pytest.raises(Forbidden):
        policy.report_scope(support)
    for role in (Role.ADMIN, Role.AGENT):
        with pytest.raises(NotFound):
            policy.operator_view(support, target(role, (SALES,)))
    assert not policy.can_work_conversation(support, conversation())
    # Its own account stays visible to it.
    assert policy.operator_view(support, as_facts(support)) is ProfileView.FULL


# -- MFA enrolment pending ------------------------------------------------------------------


def test_admin_pending_mfa_enrolment_may_only_manage_itself() -> None:
    admin = operator(Role.ADMIN, mfa_pending=True)
    assert policy.allowed_actions(admin) == {Action.SELF_MANAGE}
    policy.authorize(admin, Action.SELF_MANAGE)


@pytest.mark.parametrize("action", sorted(EXPECTED_ACTIONS[Role.ADMIN] - {"self.manage"}))
def test_pending_enrolment_gets_mfa_enrolment_required_for_normal_actions(action: str) -> None:
    admin = operator(Role.ADMIN, mfa_pending=True)
    with pytest.raises(MfaEnrolmentRequired) as caught:
        policy.authorize(admin, Action(action))
    assert caught.value.code == "mfa_enrolment_required"
    assert caught.value.status_code == 403


@pytest.mark.parametrize("action", sorted(API_KEY_ACTIONS - EXPECTED_ACTIONS[Role.ADMIN]))
def test_pending_enrolment_does_not_turn_a_foreign_action_into_an_enrolment_prompt(
    action: str,
) -> None:
    # Admins may never make the API key's calls, enrolled or not: that is a plain refusal.
    admin = operator(Role.ADMIN, mfa_pending=True)
    with pytest.raises(Forbidden) as caught:
        policy.authorize(admin, Action(action))
    assert not isinstance(caught.value, MfaEnrolmentRequired)


def test_pending_enrolment_blocks_scopes_and_conversations() -> None:
    admin = operator(Role.ADMIN, mfa_pending=True)
    with pytest.raises(MfaEnrolmentRequired):
        policy.operator_list_scope(admin)
    with pytest.raises(MfaEnrolmentRequired):
        policy.report_scope(admin)
    with pytest.raises(MfaEnrolmentRequired):
        policy.authorize_operator_change(admin, None, new_role=Role.AGENT)
    assert not policy.can_work_conversation(admin, conversation())
    with pytest.raises(NotFound):
        policy.operator_view(admin, target(Role.AGENT))
    assert policy.operator_view(admin, as_facts(admin)) is ProfileView.FULL


# -- who sees whom --------------------------------------------------------------------------


def test_admin_sees_full_profile_of_everyone_in_the_workspace() -> None:
    admin = operator(Role.ADMIN)
    for role in (Role.ADMIN, Role.MANAGER, Role.AGENT, Role.ANALYST):
        assert policy.operator_view(admin, target(role)) is ProfileView.FULL
        assert policy.operator_view(admin, target(role, (SALES, BILLING))) is ProfileView.FULL


def test_admin_lists_the_whole_workspace() -> None:
    scope = policy.operator_list_scope(operator(Role.ADMIN, (SALES,)))
    assert scope.all_of_workspace is True
    assert scope.only_self is False


def test_everyone_sees_their_own_full_profile() -> None:
    for role in Role:
        principal = operator(role)  # no groups at all
        assert policy.operator_view(principal, as_facts(principal)) is ProfileView.FULL


def test_manager_sees_full_profile_of_agents_sharing_a_group() -> None:
    manager = operator(Role.MANAGER, (SALES, SUPPORT))
    assert policy.operator_view(manager, target(Role.AGENT, (SALES,))) is ProfileView.FULL
    assert policy.operator_view(manager, target(Role.AGENT, (SUPPORT, BILLING))) is (
        ProfileView.FULL
    )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.ANALYST])
def test_manager_sees_only_public_profile_of_other_roles_in_their_groups(role: Role) -> None:
    manager = operator(Role.MANAGER, (SALES,))
    assert policy.operator_view(manager, target(role, (SALES,))) is ProfileView.PUBLIC


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER, Role.ADMIN, Role.ANALYST])
def test_manager_gets_not_found_for_operators_outside_their_groups(role: Role) -> None:
    manager = operator(Role.MANAGER, (SALES,))
    with pytest.raises(NotFound):
        policy.operator_view(manager, target(role, (SUPPORT,)))
    with pytest.raises(NotFound):
        policy.operator_view(manager, target(role, ()))


def test_manager_without_groups_sees_only_itself() -> None:
    manager = operator(Role.MANAGER)
    with pytest.raises(NotFound):
        policy.operator_view(manager, target(Role.AGENT, (SALES,)))
    scope = policy.operator_list_scope(manager)
    assert scope.all_of_workspace is False
    assert scope.group_ids == frozenset()


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER, Role.ADMIN, Role.ANALYST])
def test_agent_sees_public_profile_of_teammates(role: Role) -> None:
    agent = operator(Role.AGENT, (SALES,))
    assert policy.operator_view(agent, target(role, (SALES, SUPPORT))) is ProfileView.PUBLIC


def test_agent_gets_not_found_for_operators_outside_their_groups() -> None:
    agent = operator(Role.AGENT, (SALES,))
    for role in (Role.AGENT, Role.ADMIN, Role.MANAGER):
        with pytest.raises(NotFound):
            policy.operator_view(agent, target(role, (SUPPORT,)))
        with pytest.raises(NotFound):
            policy.operator_view(agent, target(role))


def test_agent_and_manager_list_scope_is_their_groups() -> None:
    for role in (Role.AGENT, Role.MANAGER):
        scope = policy.operator_list_scope(operator(role, (SALES, BILLING)))
        assert scope.all_of_workspace is False
        assert scope.group_ids == {SALES, BILLING}


def test_analyst_cannot_list_or_see_operators() -> None:
    analyst = operator(Role.ANALYST, (SALES,))
    with pytest.raises(Forbidden):
        policy.operator_list_scope(analyst)
    for role in (Role.AGENT, Role.MANAGER, Role.ANALYST):
        with pytest.raises(NotFound):
            policy.operator_view(analyst, target(role, (SALES,)))


@pytest.mark.parametrize(
    "principal",
    [
        operator(Role.ADMIN, (SALES,)),
        operator(Role.MANAGER, (SALES,)),
        operator(Role.AGENT, (SALES,)),
        operator(Role.ANALYST, (SALES,)),
        api_key(),
    ],
    ids=["admin", "manager", "agent", "analyst", "api_key"],
)
def test_operators_of_another_workspace_are_not_found(principal: Principal) -> None:
    # Even with the same group id (ids are unique in practice, but the rule must not rely on
    # it) an operator of another workspace does not exist for this principal.
    foreign = target(Role.AGENT, (SALES,), workspace_id=OTHER_WS)
    with pytest.raises(NotFound):
        policy.operator_view(principal, foreign)
    with pytest.raises(NotFound):
        policy.ensure_same_workspace(principal, OTHER_WS)
    policy.ensure_same_workspace(principal, WS)


def test_principal_without_workspace_matches_no_workspace() -> None:
    support = operator(Role.SUPPORT)
    with pytest.raises(NotFound):
        policy.ensure_same_workspace(support, WS)
    with pytest.raises(NotFound):
        policy.ensure_same_workspace(support, None)


# -- operator changes -----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AGENT, Role.ANALYST])
def test_admin_may_create_any_workspace_role(role: Role) -> None:
    policy.authorize_operator_change(
        operator(Role.ADMIN), None, new_role=role, new_group_ids=[SALES, SUPPORT]
    )


def test_admin_may_not_create_support_accounts() -> None:
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(operator(Role.ADMIN), None, new_role=Role.SUPPORT)


def test_admin_may_change_and_remove_anyone_in_the_workspace() -> None:
    admin = operator(Role.ADMIN)
    other_admin = target(Role.ADMIN, (SALES,))
    policy.authorize_operator_change(admin, other_admin, new_role=Role.AGENT)
    policy.authorize_operator_change(admin, other_admin, new_group_ids=[BILLING])
    policy.authorize_operator_change(admin, other_admin, removing=True)


def test_admin_cannot_change_an_operator_of_another_workspace() -> None:
    foreign = target(Role.AGENT, workspace_id=OTHER_WS)
    with pytest.raises(NotFound):
        policy.authorize_operator_change(operator(Role.ADMIN), foreign, new_role=Role.MANAGER)
    with pytest.raises(NotFound):
        policy.authorize_operator_change(operator(Role.ADMIN), foreign, removing=True)


def test_manager_may_create_an_agent_in_their_own_group() -> None:
    manager = operator(Role.MANAGER, (SALES, SUPPORT))
    policy.authorize_operator_change(manager, None, new_role=Role.AGENT, new_group_ids=[SALES])
    policy.authorize_operator_change(
        manager, None, new_role=Role.AGENT, new_group_ids=[SALES, SUPPORT]
    )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.ANALYST, Role.SUPPORT])
def test_manager_cannot_create_anything_but_an_agent(role: Role) -> None:
    manager = operator(Role.MANAGER, (SALES,))
    with pytest.raises(Forbidden) as caught:
        policy.authorize_operator_change(manager, None, new_role=role, new_group_ids=[SALES])
    assert caught.value.field == "role"


def test_manager_cannot_create_an_agent_in_another_group() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    for groups in ([SUPPORT], [SALES, SUPPORT]):
        with pytest.raises(Forbidden) as caught:
            policy.authorize_operator_change(
                manager, None, new_role=Role.AGENT, new_group_ids=groups
            )
        assert caught.value.field == "group_ids"


def test_manager_cannot_create_an_agent_outside_every_group() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    with pytest.raises(Forbidden) as caught:
        policy.authorize_operator_change(manager, None, new_role=Role.AGENT, new_group_ids=[])
    assert caught.value.field == "group_ids"


def test_manager_may_edit_and_remove_an_agent_whose_groups_are_all_theirs() -> None:
    manager = operator(Role.MANAGER, (SALES, SUPPORT))
    agent = target(Role.AGENT, (SALES, SUPPORT))
    policy.authorize_operator_change(manager, agent)
    policy.authorize_operator_change(manager, agent, new_role=Role.AGENT)
    policy.authorize_operator_change(manager, agent, removing=True)


def test_manager_cannot_remove_an_agent_who_also_belongs_to_a_group_they_do_not_manage() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    agent = target(Role.AGENT, (SALES, BILLING))
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(manager, agent, removing=True)
    # ... but may still edit that shared agent's profile.
    policy.authorize_operator_change(manager, agent)


def test_manager_cannot_touch_an_agent_outside_their_groups() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    agent = target(Role.AGENT, (SUPPORT,))
    with pytest.raises(NotFound):
        policy.authorize_operator_change(manager, agent)
    with pytest.raises(NotFound):
        policy.authorize_operator_change(manager, agent, removing=True)
    with pytest.raises(NotFound):
        policy.authorize_operator_change(manager, agent, new_group_ids=[SUPPORT, SALES])


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.ANALYST])
def test_manager_cannot_manage_non_agents_even_in_their_groups(role: Role) -> None:
    manager = operator(Role.MANAGER, (SALES,))
    colleague = target(role, (SALES,))
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(manager, colleague)
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(manager, colleague, removing=True)


def test_manager_cannot_promote_an_agent() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    agent = target(Role.AGENT, (SALES,))
    for role in (Role.MANAGER, Role.ADMIN, Role.ANALYST):
        with pytest.raises(Forbidden) as caught:
            policy.authorize_operator_change(manager, agent, new_role=role)
        assert caught.value.field == "role"


def test_manager_may_change_memberships_of_their_own_groups_only() -> None:
    manager = operator(Role.MANAGER, (SALES, SUPPORT))
    agent = target(Role.AGENT, (SALES, BILLING))
    # Adding to / removing from a group the manager runs: fine; BILLING stays untouched.
    policy.authorize_operator_change(manager, agent, new_group_ids=[SALES, SUPPORT, BILLING])
    policy.authorize_operator_change(manager, agent, new_group_ids=[BILLING])
    policy.authorize_operator_change(manager, agent, new_group_ids=[SUPPORT, BILLING])
    # Dropping the agent from BILLING, which is not the manager's: refused.
    for groups in ([SALES], [SALES, SUPPORT], []):
        with pytest.raises(Forbidden) as caught:
            policy.authorize_operator_change(manager, agent, new_group_ids=groups)
        assert caught.value.field == "group_ids"


def test_manager_cannot_add_an_agent_to_a_group_they_do_not_manage() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    agent = target(Role.AGENT, (SALES,))
    with pytest.raises(Forbidden) as caught:
        policy.authorize_operator_change(manager, agent, new_group_ids=[SALES, BILLING])
    assert caught.value.field == "group_ids"


def test_manager_cannot_change_an_operator_of_another_workspace() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    foreign = target(Role.AGENT, (SALES,), workspace_id=OTHER_WS)
    with pytest.raises(NotFound):
        policy.authorize_operator_change(manager, foreign)
    with pytest.raises(NotFound):
        policy.authorize_operator_change(manager, foreign, removing=True)


@pytest.mark.parametrize("role", [Role.AGENT, Role.ANALYST, Role.SUPPORT])
def test_roles_without_operator_management_cannot_change_operators(role: Role) -> None:
    principal = operator(role, (SALES,))
    teammate = target(Role.AGENT, (SALES,))
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(principal, None, new_role=Role.AGENT)
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(principal, teammate)
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(principal, teammate, removing=True)


def test_api_key_cannot_change_operators() -> None:
    with pytest.raises(Forbidden):
        policy.authorize_operator_change(api_key(), None, new_role=Role.AGENT)


# -- conversations --------------------------------------------------------------------------


def test_admin_may_work_every_conversation_of_the_workspace() -> None:
    admin = operator(Role.ADMIN)  # in no group at all
    for group, status, assignee in itertools.product(
        (SALES, SUPPORT, None), ("waiting", "open", "closed"), (None, uuid.uuid4())
    ):
        conv = conversation(group=group, status=status, assignee=assignee)
        assert policy.can_work_conversation(admin, conv)


def test_manager_works_conversations_of_their_groups_whatever_their_state() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    for status in ("waiting", "open", "closed"):
        assert policy.can_work_conversation(
            manager, conversation(group=SALES, status=status, assignee=uuid.uuid4())
        )
        assert not policy.can_work_conversation(
            manager, conversation(group=SUPPORT, status=status, assignee=uuid.uuid4())
        )
    assert not policy.can_work_conversation(manager, conversation(group=None))


def test_manager_works_a_conversation_assigned_to_them_in_another_group() -> None:
    manager = operator(Role.MANAGER, (SALES,))
    conv = conversation(group=SUPPORT, status="open", assignee=manager.operator_id)
    assert policy.can_work_conversation(manager, conv)


def test_agent_works_conversations_assigned_to_them() -> None:
    agent = operator(Role.AGENT, (SALES,))
    for group in (SALES, SUPPORT, None):
        for status in ("open", "closed"):
            conv = conversation(group=group, status=status, assignee=agent.operator_id)
            assert policy.can_work_conversation(agent, conv)


def test_agent_works_conversations_waiting_in_their_group() -> None:
    agent = operator(Role.AGENT, (SALES, SUPPORT))
    assert policy.can_work_conversation(agent, conversation(group=SALES, status="waiting"))
    assert policy.can_work_conversation(agent, conversation(group=SUPPORT, status="waiting"))


def test_agent_cannot_open_a_colleagues_conversation_in_their_own_group() -> None:
    agent = operator(Role.AGENT, (SALES,))
    colleague = uuid.uuid4()
    for status in ("open", "closed"):
        conv = conversation(group=SALES, status=status, assignee=colleague)
        assert not policy.can_work_conversation(agent, conv)


def test_agent_cannot_open_conversations_waiting_in_other_groups_or_in_none() -> None:
    agent = operator(Role.AGENT, (SALES,))
    assert not policy.can_work_conversation(agent, conversation(group=SUPPORT, status="waiting"))
    assert not policy.can_work_conversation(agent, conversation(group=None, status="waiting"))


def test_agent_in_no_group_without_an_assignment_sees_no_unassigned_conversation() -> None:
    # A principal without an operator id or groups must not turn into "assignee IS NULL".
    agent = replace(operator(Role.AGENT), operator_id=None)
    assert not policy.can_work_conversation(agent, conversation(assignee=None))
    assert _matches_nothing(policy.conversation_rule(agent, FACTS))


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SUPPORT])
def test_analyst_and_support_never_work_conversations(role: Role) -> None:
    principal = operator(role, (SALES,))
    for status in ("waiting", "open", "closed"):
        conv = conversation(group=SALES, status=status, assignee=principal.operator_id)
        assert not policy.can_work_conversation(principal, conv)
        assert not policy.can_work_conversation(principal, conv, ConversationAccess.READ)
    assert _matches_nothing(policy.conversation_rule(principal, FACTS))


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AGENT])
def test_nobody_works_conversations_of_another_workspace(role: Role) -> None:
    principal = operator(role, (SALES,))
    conv = conversation(
        group=SALES, status="waiting", assignee=principal.operator_id, workspace_id=OTHER_WS
    )
    assert not policy.can_work_conversation(principal, conv)


def test_visitor_sees_only_their_own_conversations() -> None:
    guest = visitor()
    assert policy.can_work_conversation(guest, conversation(visitor_id=guest.visitor_id))
    assert not policy.can_work_conversation(guest, conversation())
    assert not policy.can_work_conversation(
        guest, conversation(visitor_id=guest.visitor_id, workspace_id=OTHER_WS)
    )


def test_visitors_and_agents_of_one_shape_share_a_compiled_rule_that_reads_their_own_ids() -> None:
    # One compiled check per shape, not per person (3 KiB each for 5,000 idle widgets): the ids
    # are read from the principal at each check, so sharing never lets one see another's chats.
    from confide.access.policy.conversations import _compiled_rule

    _compiled_rule.cache_clear()
    guests = [visitor() for _ in range(50)] + [visitor(OTHER_WS) for _ in range(50)]
    chats = [conversation(visitor_id=g.visitor_id, workspace_id=g.workspace_id) for g in guests]
    for guest in guests:
        assert [policy.can_work_conversation(guest, c) for c in chats].count(True) == 1
    agents = [operator(Role.AGENT, (SALES,)) for _ in range(20)]
    mine = [conversation(group=None, assignee=a.operator_id, status="open") for a in agents]
    for agent in agents:
        assert [policy.can_work_conversation(agent, c) for c in mine].count(True) == 1
    assert _compiled_rule.cache_info().currsize == 2  # one visitor shape, one agent shape
    # A shape copies every field but the ids and what no rule reads: a new field of Principal
    # must be added to the shape (confide/access/policy/conversations.py, ``_shape``).
    copied = {"kind", "role", "group_ids", "mfa_enrolment_pending", "grants"}
    fields = {f.name for f in dataclasses.fields(Principal)}
    assert fields == copied | {
        "session_id",
        "api_key_id",
        "workspace_id",
        "visitor_id",
        "operator_id",
    }


def test_api_keys_and_pending_enrolment_see_no_conversation() -> None:
    for principal in (api_key(), operator(Role.ADMIN, (SALES,), mfa_pending=True)):
        assert not policy.can_work_conversation(principal, conversation())
        assert _matches_nothing(policy.conversation_rule(principal, FACTS))


def test_the_rule_is_one_sql_expression_for_lists_and_single_reads() -> None:
    agent = operator(Role.AGENT, (SALES,))
    where = _sql(policy.conversation_rule(agent, FACTS))
    # Workspace, data states and the agent's reach, all in one WHERE clause.
    for part in ("workspace_id =", "lifecycle =", "restricted IS", "group_id IN", "status ="):
        assert part in where, where


# -- data states: archived, restricted, held ------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AGENT])
def test_archived_conversation_is_invisible_to_operators_without_a_custodian_grant(
    role: Role,
) -> None:
    principal = operator(role, (SALES,))
    conv = conversation(group=SALES, assignee=principal.operator_id, lifecycle="archived")
    for access in ConversationAccess:
        assert not policy.can_work_conversation(principal, conv, access)
    assert policy.visitor_view(principal, conv) is VisitorView.NONE


def test_archived_conversation_is_invisible_to_agents() -> None:
    agent = operator(Role.AGENT, (SALES,))
    active = conversation(group=SALES, assignee=agent.operator_id)
    assert policy.can_work_conversation(agent, active)
    assert not policy.can_work_conversation(agent, replace(active, lifecycle="archived"))


def test_archived_conversation_is_invisible_to_its_visitor_in_the_widget() -> None:
    guest = visitor()
    conv = conversation(visitor_id=guest.visitor_id, lifecycle="archived")
    assert not policy.can_work_conversation(guest, conv, ConversationAccess.READ)


def test_custodian_with_an_open_justification_reads_the_archived_conversations_named() -> None:
    named = conversation(lifecycle="archived")
    other = conversation(lifecycle="archived")
    admin = replace(operator(Role.ADMIN), grants=(custodian({named.id}),))
    assert policy.can_work_conversation(admin, named, ConversationAccess.READ)
    assert not policy.can_work_conversation(admin, other, ConversationAccess.READ)
    # Reading for a restore or a requisition, not working the chat: no replies, no transfer.
    assert not policy.can_work_conversation(admin, named, ConversationAccess.WORK)
    # The requisition needs to know whose conversation it is.
    assert policy.visitor_view(admin, named) is VisitorView.FULL
    # Any role may be the custodian; the grant, not the role, opens the archive.
    agent = replace(operator(Role.AGENT), grants=(custodian({named.id}),))
    assert policy.can_work_conversation(agent, named, ConversationAccess.READ)
    # An active conversation named by a custodian grant is not opened by it.
    assert not policy.can_work_conversation(
        agent, replace(named, lifecycle="active"), ConversationAccess.READ
    )


def test_custodian_whose_justification_is_closed_or_expired_sees_nothing() -> None:
    named = conversation(lifecycle="archived")
    closed = custodian({named.id}, closed_at=clock.utcnow() - timedelta(minutes=1))
    expired = custodian({named.id}, expires_at=clock.utcnow() - timedelta(seconds=1))
    for grant in (closed, expired):
        admin = replace(operator(Role.ADMIN), grants=(grant,))
        assert not policy.can_work_conversation(admin, named, ConversationAccess.READ)


def test_custodian_grant_expires_by_itself_as_the_clock_moves() -> None:
    named = conversation(lifecycle="archived")
    admin = replace(operator(Role.ADMIN), grants=(custodian({named.id}),))
    assert policy.can_work_conversation(admin, named, ConversationAccess.READ)
    later = clock.utcnow() + timedelta(hours=2)
    assert not policy.can_work_conversation(admin, named, ConversationAccess.READ, now=later)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.AGENT])
def test_restricted_conversation_is_hidden_from_agents_and_managers(role: Role) -> None:
    principal = operator(role, (SALES,))
    conv = conversation(group=SALES, assignee=principal.operator_id, restricted=True)
    for access in ConversationAccess:
        assert not policy.can_work_conversation(principal, conv, access)
    assert policy.visitor_view(principal, conv) is VisitorView.NONE


def test_restricted_conversation_stays_visible_to_admins_and_its_visitor() -> None:
    guest = visitor()
    conv = conversation(group=SALES, visitor_id=guest.visitor_id, restricted=True)
    admin = operator(Role.ADMIN)
    assert policy.can_work_conversation(admin, conv, ConversationAccess.READ)
    assert policy.visitor_view(admin, conv) is VisitorView.FULL
    assert policy.can_work_conversation(guest, conv, ConversationAccess.READ)


def test_restricted_conversation_never_reaches_analysts() -> None:
    analyst = operator(Role.ANALYST, (SALES,))
    assert policy.visitor_view(analyst, conversation(group=SALES)) is VisitorView.PSEUDONYMOUS
    restricted = conversation(group=SALES, restricted=True)
    assert policy.visitor_view(analyst, restricted) is VisitorView.NONE
    assert "restricted IS" in _sql(policy.report_rule(analyst, FACTS))


def test_held_conversation_stays_readable_but_may_not_be_destroyed() -> None:
    agent = operator(Role.AGENT, (SALES,))
    held = conversation(group=SALES, assignee=agent.operator_id, held=True)
    assert policy.can_work_conversation(agent, held)
    assert policy.visitor_view(agent, held) is VisitorView.WORKING
    assert not policy.may_destroy(held)
    assert policy.may_destroy(replace(held, held=False))
    # Archiving does not lift the hold.
    assert not policy.may_destroy(replace(held, lifecycle="archived"))


def test_policy_state_names_match_the_chat_enums() -> None:
    from confide.chat.models import ConversationLifecycle, ConversationStatus

    assert {ACTIVE, ARCHIVED} == {m.value for m in ConversationLifecycle}
    assert ConversationStatus(WAITING) is ConversationStatus.WAITING


# -- support grants -------------------------------------------------------------------------


def test_support_without_a_grant_sees_nothing_even_inside_a_workspace() -> None:
    support = replace(operator(Role.SUPPORT), workspace_id=WS)
    assert policy.allowed_actions(support) == {Action.SELF_MANAGE}
    for access in ConversationAccess:
        assert not policy.can_work_conversation(support, conversation(), access)
    assert policy.visitor_view(support, conversation()) is VisitorView.NONE


def test_expired_support_grant_sees_nothing() -> None:
    conv = conversation()
    past = clock.utcnow() - timedelta(seconds=1)
    support = supporter(
        Grant.support(WS, SupportScope.CONVERSATION, past, conv.id),
        Grant.support(WS, SupportScope.CONVERSATIONS_READ, past),
        Grant.support(WS, SupportScope.SETTINGS, past),
    )
    assert policy.allowed_actions(support) == {Action.SELF_MANAGE}
    for access in ConversationAccess:
        assert not policy.can_work_conversation(support, conv, access)
    with pytest.raises(Forbidden):
        policy.authorize(support, Action.WORKSPACE_SETTINGS)


def test_support_grant_of_one_conversation_opens_that_conversation_only() -> None:
    conv = conversation()
    support = supporter(Grant.support(WS, SupportScope.CONVERSATION, soon(), conv.id))
    for access in ConversationAccess:
        assert policy.can_work_conversation(support, conv, access)
        assert not policy.can_work_conversation(support, conversation(), access)
    # Support fixes problems; who the visitor is stays hidden.
    assert policy.visitor_view(support, conv) is VisitorView.PSEUDONYMOUS
    # Restricted or archived, the grant does not open it.
    assert not policy.can_work_conversation(support, replace(conv, restricted=True))
    assert not policy.can_work_conversation(support, replace(conv, lifecycle="archived"))
    assert policy.allowed_actions(support) == {
        Action.SELF_MANAGE,
        Action.WORKSPACE_READ,
        Action.CONVERSATIONS_WORK,
    }


def test_support_grant_to_read_conversations_reads_them_all_and_works_none() -> None:
    support = supporter(Grant.support(WS, SupportScope.CONVERSATIONS_READ, soon()))
    for conv in (conversation(), conversation(group=None, status="closed")):
        assert policy.can_work_conversation(support, conv, ConversationAccess.READ)
        assert not policy.can_work_conversation(support, conv, ConversationAccess.WORK)
    assert not policy.can_work_conversation(
        support, conversation(restricted=True), ConversationAccess.READ
    )


def test_support_grant_for_settings_opens_settings_and_no_conversation() -> None:
    support = supporter(Grant.support(WS, SupportScope.SETTINGS, soon()))
    policy.authorize(support, Action.WORKSPACE_SETTINGS)
    with pytest.raises(Forbidden):
        policy.authorize(support, Action.OPERATORS_LIST)
    assert not policy.can_work_conversation(support, conversation(), ConversationAccess.READ)


def test_grant_of_another_workspace_counts_for_nothing() -> None:
    conv = conversation(workspace_id=OTHER_WS)
    support = supporter(Grant.support(OTHER_WS, SupportScope.CONVERSATION, soon(), conv.id))
    assert not policy.can_work_conversation(support, conv)
    assert policy.allowed_actions(support) == {Action.SELF_MANAGE}


def test_malformed_grants_are_refused_when_built() -> None:
    with pytest.raises(ValueError):
        Grant.support(WS, SupportScope.CONVERSATION, soon())  # names no conversation
    with pytest.raises(ValueError):
        Grant.support(WS, SupportScope.SETTINGS, soon(), uuid.uuid4())
    with pytest.raises(ValueError):
        Grant.archive_custodian(WS, [], ArchiveJustification.LEGAL_REQUISITION, soon())
    with pytest.raises(ValueError):
        Grant.support(WS, SupportScope.SETTINGS, datetime(2030, 1, 1))  # naive


# -- how much of the visitor ---------------------------------------------------------------


def test_visitor_view_by_role() -> None:
    agent = operator(Role.AGENT, (SALES,))
    conv = conversation(group=SALES, assignee=agent.operator_id)
    assert policy.visitor_view(operator(Role.ADMIN), conv) is VisitorView.FULL
    assert policy.visitor_view(operator(Role.MANAGER, (SALES,)), conv) is VisitorView.WORKING
    assert policy.visitor_view(agent, conv) is VisitorView.WORKING
    assert policy.visitor_view(operator(Role.ANALYST, (SALES,)), conv) is (VisitorView.PSEUDONYMOUS)
    assert policy.visitor_view(api_key(), conv) is VisitorView.NONE
    # Outside the principal's reach: nothing at all.
    assert policy.visitor_view(operator(Role.AGENT, (SUPPORT,)), conv) is VisitorView.NONE
    assert policy.visitor_view(operator(Role.ANALYST, (SUPPORT,)), conv) is VisitorView.NONE
    assert (
        policy.visitor_view(operator(Role.ADMIN, workspace_id=OTHER_WS), conv) is VisitorView.NONE
    )


def test_visitor_sees_their_own_identity_and_nobody_elses() -> None:
    guest = visitor()
    assert policy.visitor_view(guest, conversation(visitor_id=guest.visitor_id)) is (
        VisitorView.FULL
    )
    assert policy.visitor_view(guest, conversation()) is VisitorView.NONE


# -- routing to a group ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AGENT])
def test_operators_route_to_any_group_of_their_workspace_only(role: Role) -> None:
    principal = operator(role, (SALES,))
    assert policy.may_route_to_group(principal, BILLING, WS)
    assert not policy.may_route_to_group(principal, BILLING, OTHER_WS)
    assert not policy.may_route_to_group(principal, BILLING, None)


def test_analysts_support_keys_visitors_and_pending_enrolment_never_route() -> None:
    conv = conversation()
    principals = [
        operator(Role.ANALYST, (SALES,)),
        supporter(Grant.support(WS, SupportScope.CONVERSATION, soon(), conv.id)),
        api_key(),
        visitor(),
        operator(Role.ADMIN, mfa_pending=True),
    ]
    for principal in principals:
        assert not policy.may_route_to_group(principal, SALES, WS), principal


# -- assignment -----------------------------------------------------------------------------


def test_agent_may_take_a_chat_or_transfer_to_a_teammate_of_its_group_only() -> None:
    agent = operator(Role.AGENT, (SALES,))
    assert policy.may_assign_to(agent, as_facts(agent), SALES)
    assert policy.may_assign_to(agent, target(Role.AGENT, (SALES,)), SALES)
    assert not policy.may_assign_to(agent, target(Role.AGENT, (SUPPORT,)), SALES)
    assert not policy.may_assign_to(agent, target(Role.AGENT, (SALES,)), None)


def test_nobody_assigns_to_analysts_or_to_other_workspaces() -> None:
    admin = operator(Role.ADMIN, (SALES,))
    assert policy.may_assign_to(admin, target(Role.AGENT, (SUPPORT,)), SALES)
    assert not policy.may_assign_to(admin, target(Role.ANALYST, (SALES,)), SALES)
    assert not policy.may_assign_to(
        admin, target(Role.AGENT, (SALES,), workspace_id=OTHER_WS), SALES
    )
    manager = operator(Role.MANAGER, (SALES,))
    assert policy.may_assign_to(manager, target(Role.AGENT, (SALES,)), SUPPORT)
    assert not policy.may_assign_to(manager, target(Role.AGENT, (SUPPORT,)), SUPPORT)


# -- reports --------------------------------------------------------------------------------


def test_admin_reports_cover_the_whole_workspace_with_identities() -> None:
    scope = policy.report_scope(operator(Role.ADMIN, (SALES,)))
    assert scope.group_ids is None
    assert scope.pseudonymised is False


def test_manager_reports_cover_their_groups_with_identities() -> None:
    scope = policy.report_scope(operator(Role.MANAGER, (SALES, SUPPORT)))
    assert scope.group_ids == {SALES, SUPPORT}
    assert scope.pseudonymised is False


def test_analyst_reports_are_pseudonymised_and_limited_to_their_groups() -> None:
    scope = policy.report_scope(operator(Role.ANALYST, (SALES,)))
    assert scope.group_ids == {SALES}
    assert scope.pseudonymised is True
    # An analyst in no group gets an empty scope, never the whole workspace.
    empty = policy.report_scope(operator(Role.ANALYST))
    assert empty.group_ids == frozenset()
    assert empty.group_ids is not None


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPPORT])
def test_agents_and_support_read_no_reports(role: Role) -> None:
    with pytest.raises(Forbidden):
        policy.report_scope(operator(role, (SALES,)))


def test_principal_is_immutable_so_rights_cannot_be_widened_in_place() -> None:
    agent = operator(Role.AGENT, (SALES,))
    with pytest.raises(AttributeError):
        agent.role = Role.ADMIN  # type: ignore[misc]
    promoted = replace(agent, role=Role.ADMIN)
    assert Action.WORKSPACE_SETTINGS in policy.allowed_actions(promoted)
    assert Action.WORKSPACE_SETTINGS not in policy.allowed_actions(agent)
