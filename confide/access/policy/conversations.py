"""Who may read or work which conversation, how much of its visitor they see, and whether it
may be destroyed.

Each rule is a SQL expression evaluated in Python too (``confide.access.rules``), so a list and
a single read cannot disagree.
"""

from __future__ import annotations

import enum
import functools
import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, or_

from confide.access.grants import Grant, grant_reach, live_grants
from confide.access.models import Role
from confide.access.policy.principals import Action, Principal, allowed_actions, report_scope
from confide.access.rules import (
    ACTIVE,
    ARCHIVED,
    FACTS,
    PRINCIPAL_IDS,
    WAITING,
    Check,
    ConversationAccess,
    ConversationColumns,
    compile_check,
    holds,
    principal_match,
)


def conversation_rule(
    principal: Principal,
    c: ConversationColumns,
    access: ConversationAccess = ConversationAccess.WORK,
    *,
    now: datetime | None = None,
) -> ColumnElement[bool]:
    """Which conversations ``principal`` may read or work, as a WHERE clause over ``c``.

    - visitor: their own active conversations (restricted ones too: the data is theirs);
    - admin: every active conversation of the workspace, restricted ones included (they handle
      the subject's request);
    - manager: active, unrestricted, in their groups or assigned to them;
    - agent: active, unrestricted, assigned to them or waiting in their groups;
    - support: only what live grants open; an archive custodian grant (any role): the archived
      conversations it names (``confide.access.grants.grant_reach``). Nobody else ever sees an
      archived conversation;
    - analysts and API keys: none. Legal hold changes nothing here (see ``destroyable_rule``).
    """
    grants = live_grants(principal.grants, principal.workspace_id, now)
    return _conversation_rule(principal, c, access, grants)


def _conversation_rule(
    principal: Principal,
    c: ConversationColumns,
    access: ConversationAccess,
    grants: tuple[Grant, ...],  # the live ones
) -> ColumnElement[bool]:
    if principal.workspace_id is None or (
        principal.kind == "operator" and principal.mfa_enrolment_pending
    ):
        return false()
    active, unrestricted = c.lifecycle == ACTIVE, c.restricted.is_(False)
    reach: list[ColumnElement[bool]] = []
    if principal.kind == "visitor" and principal.visitor_id is not None:
        reach.append(
            and_(active, principal_match(c.visitor_id, "visitor_id", principal.visitor_id))
        )
    elif principal.kind == "operator" and principal.role is Role.ADMIN:
        reach.append(active)
    elif principal.kind == "operator" and principal.role in (Role.MANAGER, Role.AGENT):
        own: list[ColumnElement[bool]] = []
        if principal.operator_id is not None:
            own.append(principal_match(c.assignee_id, "operator_id", principal.operator_id))
        if principal.group_ids:
            in_groups = c.group_id.in_(sorted(principal.group_ids))
            own.append(
                and_(in_groups, c.status == WAITING) if principal.role is Role.AGENT else in_groups
            )
        if own:
            reach.append(and_(active, unrestricted, or_(*own)))
    if principal.kind == "operator":
        reach += grant_reach(grants, c, access, support=principal.role is Role.SUPPORT)
    if not reach:
        return false()
    in_workspace = principal_match(c.workspace_id, "workspace_id", principal.workspace_id)
    return and_(in_workspace, or_(*reach))


def can_work_conversation(
    principal: Principal,
    conversation: object,
    access: ConversationAccess = ConversationAccess.WORK,
    *,
    now: datetime | None = None,
) -> bool:
    """``conversation_rule`` for one conversation in memory (``ConversationFacts`` or any object
    with the same attribute names, such as a loaded ``Conversation``)."""
    grants = live_grants(principal.grants, principal.workspace_id, now)
    return _compiled_rule(_shape(principal), access, grants)(conversation, principal)


_ANY_ID = uuid.UUID(int=0)  # stands for a principal's id in a shape


def _shape(principal: Principal) -> Principal:
    """``principal`` less what its compiled rule reads at each check (its ids) and what the rule
    never reads (session, API key): every visitor shares one compiled rule, and so does every
    agent of the same groups."""
    return Principal(
        kind=principal.kind,
        role=principal.role,
        group_ids=principal.group_ids,
        mfa_enrolment_pending=principal.mfa_enrolment_pending,
        grants=principal.grants,
        # Whether there is an id changes the rule; which one does not.
        **{name: None if getattr(principal, name) is None else _ANY_ID for name in PRINCIPAL_IDS},
    )


@functools.lru_cache(maxsize=1024)
def _compiled_rule(
    shape: Principal, access: ConversationAccess, grants: tuple[Grant, ...]
) -> Check:
    # Building and compiling an expression costs ~0.1-1 ms and ~3 KiB; a console checks every
    # event of its workspace, and every idle widget its own conversation, so each shape
    # (``_shape``), access and set of live grants is compiled once. The key holds the live
    # grants, so a grant that expires changes the key instead of going stale.
    return compile_check(_conversation_rule(shape, FACTS, access, grants))


def destroyable_rule(c: ConversationColumns) -> ColumnElement[bool]:
    """Conversations that retention or erasure may destroy: those under no legal hold (brief
    §3, §7). A WHERE clause for purge queries; ``may_destroy`` checks one."""
    return c.held.is_(False)


def may_destroy(conversation: object) -> bool:
    """False while the conversation is under legal hold, whoever asks."""
    return _DESTROYABLE(conversation, None)


_DESTROYABLE = compile_check(destroyable_rule(FACTS))


def report_rule(principal: Principal, c: ConversationColumns) -> ColumnElement[bool]:
    """Conversations whose (pseudonymised) figures reach ``principal``'s reports: admins the
    workspace, managers and analysts their groups; restricted ones never reach analysts."""
    scope = report_scope(principal)
    rule = c.workspace_id == principal.workspace_id
    if scope.group_ids is not None:
        if not scope.group_ids:
            return false()
        rule = and_(rule, c.group_id.in_(sorted(scope.group_ids)))
    if principal.role is Role.ANALYST:
        rule = and_(rule, c.restricted.is_(False))
    return rule


class VisitorView(enum.StrEnum):
    """How much of a conversation's visitor an operator sees (``visitor_view``)."""

    FULL = "full"  # name, e-mail, phone, attributes
    WORKING = "working"  # what answering needs: name and the host's attributes
    PSEUDONYMOUS = "pseudonymous"  # the visitor id only
    NONE = "none"


def visitor_view(principal: Principal, conversation: object) -> VisitorView:
    """How much of the visitor of ``conversation`` (facts or a loaded row) ``principal`` sees.

    Admins and archive custodians: full (they act on the person's requests and requisitions).
    Agents and managers on a conversation they may work: working: the name to address the
    visitor and the attributes the host site sent to help answer; never the e-mail address or
    phone number, which answering in the conversation does not need (GDPR Art. 5(1)(c), 25).
    Support with a grant, and analysts on conversations of their reports: pseudonymous. The
    visitor themselves: full. Anyone else: none.
    """
    if principal.kind == "visitor":
        readable = can_work_conversation(principal, conversation, ConversationAccess.READ)
        return VisitorView.FULL if readable else VisitorView.NONE
    if principal.kind != "operator":
        return VisitorView.NONE
    if not can_work_conversation(principal, conversation, ConversationAccess.READ):
        # An analyst's reports may name an active conversation of theirs by its pseudonym.
        if principal.role is Role.ANALYST and Action.REPORTS_READ in allowed_actions(principal):
            in_reports = and_(report_rule(principal, FACTS), FACTS.lifecycle == ACTIVE)
            if holds(in_reports, conversation, principal):
                return VisitorView.PSEUDONYMOUS
        return VisitorView.NONE
    if principal.role is Role.ADMIN or getattr(conversation, "lifecycle", None) == ARCHIVED:
        return VisitorView.FULL
    if principal.role in (Role.MANAGER, Role.AGENT):
        return VisitorView.WORKING
    return VisitorView.PSEUDONYMOUS


def may_route_to_group(
    principal: Principal, group_id: uuid.UUID, group_workspace_id: uuid.UUID | None
) -> bool:
    """Transfer to the queue of group ``group_id`` (of workspace ``group_workspace_id``):
    admins, managers and agents who may work conversations, to any group of their own
    workspace (handing over is allowed; seeing that queue afterwards is not). Support,
    analysts, API keys and visitors never route."""
    if principal.kind != "operator" or principal.workspace_id is None:
        return False
    if group_workspace_id != principal.workspace_id:
        return False
    if Action.CONVERSATIONS_WORK not in allowed_actions(principal):
        return False
    return principal.role in (Role.ADMIN, Role.MANAGER, Role.AGENT)
