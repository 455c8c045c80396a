"""Who may do what: the one place where roles and scopes are decided.

Every endpoint asks this module before it reads or writes, and list queries take their filter
from it, so a rule changes here or nowhere. The rules follow the brief:

- **admin**: everything in the workspace, including privacy settings and operator management.
- **manager**: conversations, reports and agents of *their groups only*; manages those agents.
- **agent**: the chat room only; sees teammates of their groups (public profile, no e-mail).
- **analyst**: reports of their groups, read-only and pseudonymised; sees no one's identity.
- **support** (platform staff): nothing at all without a grant from the workspace admin.
- **API key**: server-to-server calls of one workspace (identify visitors, read its profile,
  record call/SMS/video conversations).
- **visitor**: their own conversations only, through the widget.

A principal never reaches another workspace: such resources are reported as *not found*, so
their existence is not revealed either.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from confide.access.models import Role
from confide.core.errors import Forbidden, MfaEnrolmentRequired, NotFound


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
    # Erase a visitor or operator and everything the subject data map reaches (Art. 17).
    SUBJECTS_ERASE = "subjects.erase"


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

    @property
    def is_support(self) -> bool:
        return self.role is Role.SUPPORT


def allowed_actions(principal: Principal) -> frozenset[Action]:
    if principal.kind == "api_key":
        return _API_KEY_ACTIONS
    if principal.kind == "visitor":
        return frozenset()
    assert principal.role is not None
    actions = _OPERATOR_ACTIONS[principal.role]
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


@dataclass(frozen=True)
class ConversationFacts:
    workspace_id: uuid.UUID
    group_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    status: str  # "waiting", "open", "closed"
    visitor_id: uuid.UUID | None = None


def can_work_conversation(principal: Principal, conversation: ConversationFacts) -> bool:
    """May the principal open this conversation in the chat room?

    Admins see all of the workspace; managers their groups' conversations; agents those
    assigned to them and those waiting in their groups. Analysts and support never do.
    """
    if principal.workspace_id != conversation.workspace_id:
        return False
    if principal.kind == "visitor":
        return principal.visitor_id is not None and principal.visitor_id == conversation.visitor_id
    if Action.CONVERSATIONS_WORK not in allowed_actions(principal):
        return False
    if principal.role is Role.ADMIN:
        return True
    in_group = conversation.group_id is not None and conversation.group_id in principal.group_ids
    if principal.role is Role.MANAGER:
        return in_group or conversation.assignee_id == principal.operator_id
    if conversation.assignee_id == principal.operator_id:
        return True
    return in_group and conversation.status == "waiting"


@dataclass(frozen=True)
class ConversationScope:
    """The SQL-side form of ``can_work_conversation``, for list queries. Both must agree
    (``tests/access/test_policy.py`` checks them against each other)."""

    nothing: bool = False
    whole_workspace: bool = False
    group_ids: frozenset[uuid.UUID] = frozenset()
    groups_waiting_only: bool = False
    assignee_id: uuid.UUID | None = None
    visitor_id: uuid.UUID | None = None


def conversation_scope(principal: Principal) -> ConversationScope:
    if principal.kind == "visitor":
        return ConversationScope(visitor_id=principal.visitor_id)
    if Action.CONVERSATIONS_WORK not in allowed_actions(principal):
        return ConversationScope(nothing=True)
    if principal.role is Role.ADMIN:
        return ConversationScope(whole_workspace=True)
    return ConversationScope(
        group_ids=principal.group_ids,
        groups_waiting_only=principal.role is Role.AGENT,
        assignee_id=principal.operator_id,
    )


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


def may_route_to_group(principal: Principal, group_id: uuid.UUID) -> bool:
    """Transfer to a group's queue: admins any group; managers and agents any group of the
    workspace (handing over is allowed; seeing that queue is not)."""
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
