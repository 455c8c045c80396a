"""Principals and the actions their role (and live grants) allow; report scopes.

See ``confide.access.policy`` for the rules as a whole.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from confide.access.grants import Grant, SupportScope, live_grants, support_scopes
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
    # Export everything the subject data map holds about a visitor or operator (Art. 15, 20).
    SUBJECTS_EXPORT = "subjects.export"


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


@dataclass(frozen=True)
class ReportScope:
    group_ids: frozenset[uuid.UUID] | None  # None: the whole workspace
    pseudonymised: bool


def report_scope(principal: Principal) -> ReportScope:
    authorize(principal, Action.REPORTS_READ)
    if principal.role is Role.ADMIN:
        return ReportScope(None, False)
    return ReportScope(principal.group_ids, principal.role is Role.ANALYST)
