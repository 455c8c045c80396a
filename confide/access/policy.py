"""Who may do what: the one place where roles and scopes are decided.

Every endpoint asks this module before it reads or writes, and list queries take their filter
from it, so a rule changes here or nowhere. The rules follow the brief:

- **admin**: everything in the workspace, including privacy settings and operator management.
- **manager**: conversations, reports and agents of *their groups only*; manages those agents.
- **agent**: the chat room only; sees teammates of their groups (public profile, no e-mail).
- **analyst**: reports of their groups, read-only and pseudonymised; sees no one's identity.
- **support** (platform staff): nothing at all without a live grant from the workspace admin
  (``confide.access.grants``: settings, one conversation, or every conversation read-only).
- **API key**: server-to-server calls of one workspace (identify visitors, read its profile,
  record call/SMS/video conversations).
- **visitor**: their own conversations only, through the widget.

Conversations also have data states: archived ones open only to an archive custodian with an
open justification, restricted ones (GDPR Art. 18) only to admins, and a legal hold blocks
destruction. A principal never reaches another workspace: such resources are reported as *not
found*, so their existence is not revealed either.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, or_

from confide.access.grants import Grant, SupportScope, grant_reach, live_grants, support_scopes
from confide.access.models import Role
from confide.access.rules import (
    ACTIVE,
    ARCHIVED,
    FACTS,
    WAITING,
    ConversationAccess,
    ConversationColumns,
    ConversationFacts,
    compile_check,
    holds,
)
from confide.core.errors import Forbidden, MfaEnrolmentRequired, NotFound

__all__ = ["ConversationAccess", "ConversationFacts", "Grant"]  # re-exported for callers


class Action(enum.StrEnum):
    WORKSPACE_READ = "workspace.read"
    WORKSPACE_SETTINGS = "workspace.settings"
    OPERATORS_LIST = "operators.list"
    OPERATORS_MANAGE = "operators.manage"
    GROUPS_LIST = "groups.list"
    GROUPS_MANAGE = "groups.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    REPORTS_READ = "reports.read"
    CONVERSATIONS_WORK = "conversations.work"
    VISITORS_IDENTIFY = "visitors.identify"
    # The host's backend records call/SMS/video conversations (metadata, optional transcript).
    CONVERSATIONS_RECORD = "conversations.record"
    SELF_MANAGE = "self.manage"
    # Read and export the audit ledger (admins: the controller's accountability).
    AUDIT_READ = "audit.read"
    # Export a visitor's signed consent proof (admins; the host's backend with an API key).
    CONSENT_PROOF_READ = "consent.proof_read"


_OPERATOR_ACTIONS: dict[Role, frozenset[Action]] = {
    # Identify and record are server-to-server calls of the host's backend (API keys only).
    Role.ADMIN: frozenset(Action) - {Action.VISITORS_IDENTIFY, Action.CONVERSATIONS_RECORD},
    Role.MANAGER: frozenset(
        {
            Action.WORKSPACE_READ,
            Action.OPERATORS_LIST,
            Action.OPERATORS_MANAGE,
            Action.GROUPS_LIST,
            Action.REPORTS_READ,
            Action.CONVERSATIONS_WORK,
            Action.SELF_MANAGE,
        }
    ),
    Role.AGENT: frozenset(
        {
            Action.WORKSPACE_READ,
            Action.OPERATORS_LIST,
            Action.GROUPS_LIST,
            Action.CONVERSATIONS_WORK,
            Action.SELF_MANAGE,
        }
    ),
    Role.ANALYST: frozenset(
        {Action.WORKSPACE_READ, Action.GROUPS_LIST, Action.REPORTS_READ, Action.SELF_MANAGE}
    ),
    # Support sees nothing of any workspace until grants exist; it may manage its own account.
    Role.SUPPORT: frozenset({Action.SELF_MANAGE}),
}
_API_KEY_ACTIONS = frozenset(
    {
        Action.WORKSPACE_READ,
        Action.VISITORS_IDENTIFY,
        Action.CONVERSATIONS_RECORD,
        Action.CONSENT_PROOF_READ,
    }
)
# What live support grants add to a support account's own actions, per scope.
_SUPPORT_GRANT_ACTIONS: dict[SupportScope, frozenset[Action]] = {
    SupportScope.SETTINGS: frozenset({Action.WORKSPACE_READ, Action.WORKSPACE_SETTINGS}),
    SupportScope.CONVERSATION: frozenset({Action.WORKSPACE_READ, Action.CONVERSATIONS_WORK}),
    SupportScope.CONVERSATIONS_READ: frozenset({Action.WORKSPACE_READ, Action.CONVERSATIONS_WORK}),
}
# What a session that still has to enrol MFA may do: enrol, sign out, read itself.
_ENROLMENT_ACTIONS = frozenset({Action.SELF_MANAGE})


@dataclass(frozen=True)
class Principal:
    kind: str  # "operator", "api_key" or "visitor"
    workspace_id: uuid.UUID | None
    role: Role | None = None
    operator_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    visitor_id: uuid.UUID | None = None
    group_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    mfa_enrolment_pending: bool = False
    # Time-boxed rights beyond the role; only live ones count (confide.access.grants).
    grants: tuple[Grant, ...] = ()

    @property
    def is_support(self) -> bool:
        return self.role is Role.SUPPORT


def allowed_actions(principal: Principal, *, now: datetime | None = None) -> frozenset[Action]:
    """Actions the principal may perform at all (``now``: for grants; defaults to utcnow)."""
    if principal.kind == "api_key":
        return _API_KEY_ACTIONS
    if principal.kind == "visitor":
        return frozenset()
    assert principal.role is not None
    actions = _OPERATOR_ACTIONS[principal.role]
    if principal.role is Role.SUPPORT:
        for scope in support_scopes(live_grants(principal.grants, principal.workspace_id, now)):
            actions |= _SUPPORT_GRANT_ACTIONS[scope]
    if principal.mfa_enrolment_pending:
        return actions & _ENROLMENT_ACTIONS
    return actions


def authorize(principal: Principal, action: Action) -> None:
    """Raise unless the principal may perform ``action`` at all (scope is checked separately)."""
    if action in allowed_actions(principal):
        return
    if principal.mfa_enrolment_pending and action in _OPERATOR_ACTIONS.get(
        principal.role or Role.SUPPORT, frozenset()
    ):
        raise MfaEnrolmentRequired()
    raise Forbidden()


def ensure_same_workspace(principal: Principal, workspace_id: uuid.UUID | None) -> None:
    if principal.workspace_id is None or principal.workspace_id != workspace_id:
        raise NotFound()


# -- operators --------------------------------------------------------------------------


class ProfileView(enum.StrEnum):
    FULL = "full"  # every field, e-mail included
    PUBLIC = "public"  # what a teammate sees: name, alias, job title, avatar, role
    PSEUDONYMOUS = "pseudonymous"  # id and role only


@dataclass(frozen=True)
class OperatorFacts:
    """What the policy needs to know about an operator it is asked about."""

    id: uuid.UUID
    workspace_id: uuid.UUID | None
    role: Role
    group_ids: frozenset[uuid.UUID]


@dataclass(frozen=True)
class OperatorScope:
    """Which operators a principal may list: all of the workspace, members of some groups, or
    only itself."""

    all_of_workspace: bool
    group_ids: frozenset[uuid.UUID]
    only_self: bool


def operator_list_scope(principal: Principal) -> OperatorScope:
    authorize(principal, Action.OPERATORS_LIST)
    if principal.role is Role.ADMIN:
        return OperatorScope(True, frozenset(), False)
    return OperatorScope(False, principal.group_ids, False)


def operator_view(principal: Principal, target: OperatorFacts) -> ProfileView:
    """How much of ``target`` the principal may see; raises NotFound if nothing."""
    if principal.operator_id == target.id:
        return ProfileView.FULL
    ensure_same_workspace(principal, target.workspace_id)
    if Action.OPERATORS_LIST not in allowed_actions(principal):
        raise NotFound()
    if principal.role is Role.ADMIN:
        return ProfileView.FULL
    if not principal.group_ids & target.group_ids:
        raise NotFound()
    if principal.role is Role.MANAGER and target.role is Role.AGENT:
        return ProfileView.FULL
    return ProfileView.PUBLIC


def authorize_operator_change(
    principal: Principal,
    target: OperatorFacts | None,
    *,
    new_role: Role | None = None,
    new_group_ids: Iterable[uuid.UUID] | None = None,
    removing: bool = False,
) -> None:
    """May the principal create (``target=None``), edit or remove an operator?

    Managers handle agents only, only in their own groups: they may create an agent in their
    groups, edit an agent who shares a group with them, change memberships of their own groups
    only, and remove an agent only when every group of that agent is theirs.
    """
    authorize(principal, Action.OPERATORS_MANAGE)
    if target is not None:
        ensure_same_workspace(principal, target.workspace_id)
    if principal.role is Role.ADMIN:
        if new_role is Role.SUPPORT:
            raise Forbidden("Support accounts belong to the platform, not to a workspace.")
        return
    # Manager from here on.
    if new_role is not None and new_role is not Role.AGENT:
        raise Forbidden("Managers may only create and manage agents.", field="role")
    if target is not None:
        if not principal.group_ids & target.group_ids:
            raise NotFound()
        if target.role is not Role.AGENT:
            raise Forbidden("Managers may only manage agents.")
        if removing and not target.group_ids <= principal.group_ids:
            raise Forbidden(
                "This agent also belongs to groups you do not manage; remove them from your "
                "groups instead, or ask an admin."
            )
    if new_group_ids is not None:
        requested = frozenset(new_group_ids)
        current = target.group_ids if target is not None else frozenset()
        changed = requested ^ current
        if not changed <= principal.group_ids:
            raise Forbidden(
                "You can only change memberships of groups you manage.", field="group_ids"
            )
        if target is None and not requested & principal.group_ids:
            raise Forbidden("Put the new agent in at least one of your groups.", field="group_ids")


# -- conversations (used by the chat layer) ---------------------------------------------
# Each rule is a SQL expression evaluated in Python too (confide.access.rules), so a list and a
# single read cannot disagree.


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
        reach.append(and_(active, c.visitor_id == principal.visitor_id))
    elif principal.kind == "operator" and principal.role is Role.ADMIN:
        reach.append(active)
    elif principal.kind == "operator" and principal.role in (Role.MANAGER, Role.AGENT):
        own: list[ColumnElement[bool]] = []
        if principal.operator_id is not None:
            own.append(c.assignee_id == principal.operator_id)
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
    return and_(c.workspace_id == principal.workspace_id, or_(*reach))


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
    return _compiled_rule(principal, access, grants)(conversation)


@functools.lru_cache(maxsize=4096)
def _compiled_rule(
    principal: Principal, access: ConversationAccess, grants: tuple[Grant, ...]
) -> Callable[[object], bool]:
    # Building and compiling an expression costs ~0.1-1 ms; a console checks every event of
    # its workspace, so each (principal, access, live grants) is compiled once. The key holds
    # the live grants, so a grant that expires changes the key instead of going stale.
    return compile_check(_conversation_rule(principal, FACTS, access, grants))


def destroyable_rule(c: ConversationColumns) -> ColumnElement[bool]:
    """Conversations that retention or erasure may destroy: those under no legal hold (brief
    §3, §7). A WHERE clause for purge queries; ``may_destroy`` checks one."""
    return c.held.is_(False)


def may_destroy(conversation: object) -> bool:
    """False while the conversation is under legal hold, whoever asks."""
    return _DESTROYABLE(conversation)


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
            if holds(in_reports, conversation):
                return VisitorView.PSEUDONYMOUS
        return VisitorView.NONE
    if principal.role is Role.ADMIN or getattr(conversation, "lifecycle", None) == ARCHIVED:
        return VisitorView.FULL
    if principal.role in (Role.MANAGER, Role.AGENT):
        return VisitorView.WORKING
    return VisitorView.PSEUDONYMOUS


def may_assign_to(
    principal: Principal, assignee: OperatorFacts, group_id: uuid.UUID | None
) -> bool:
    """May the principal hand a conversation to ``assignee``? Admins: anyone of the workspace;
    managers: members of their groups; agents: only themselves (taking a waiting chat) or a
    teammate of the conversation's group (transfer)."""
    if principal.workspace_id != assignee.workspace_id or assignee.role not in (
        Role.ADMIN,
        Role.MANAGER,
        Role.AGENT,
    ):
        return False
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.MANAGER:
        return (
            bool(principal.group_ids & assignee.group_ids) or assignee.id == principal.operator_id
        )
    if principal.role is Role.AGENT:
        return assignee.id == principal.operator_id or (
            group_id is not None and group_id in assignee.group_ids
        )
    return False


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


@dataclass(frozen=True)
class ReportScope:
    group_ids: frozenset[uuid.UUID] | None  # None: the whole workspace
    pseudonymised: bool


def report_scope(principal: Principal) -> ReportScope:
    authorize(principal, Action.REPORTS_READ)
    if principal.role is Role.ADMIN:
        return ReportScope(None, False)
    return ReportScope(principal.group_ids, principal.role is Role.ANALYST)
