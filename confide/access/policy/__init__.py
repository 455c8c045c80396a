"""Who may do what: the one place where roles and scopes are decided.

Every endpoint asks this package before it reads or writes, and list queries take their filter
from it, so a rule changes here or nowhere: ``principals`` (roles, actions, grants' actions,
report scopes), ``operators`` (who sees and manages whom), ``conversations`` (who reads or works
which conversation, how much of its visitor they see, what may be destroyed). The rules follow
the brief:

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

from confide.access.grants import Grant
from confide.access.policy.conversations import (
    VisitorView,
    can_work_conversation,
    conversation_rule,
    destroyable_rule,
    may_destroy,
    may_route_to_group,
    report_rule,
    visitor_view,
)
from confide.access.policy.operators import (
    OperatorFacts,
    OperatorScope,
    ProfileView,
    authorize_operator_change,
    may_assign_to,
    operator_list_scope,
    operator_view,
)
from confide.access.policy.principals import (
    Action,
    Principal,
    ReportScope,
    allowed_actions,
    authorize,
    ensure_same_workspace,
    report_scope,
)
from confide.access.rules import FACTS, ConversationAccess, ConversationFacts

__all__ = [
    "FACTS",
    "Action",
    "ConversationAccess",
    "ConversationFacts",
    "Grant",
    "OperatorFacts",
    "OperatorScope",
    "Principal",
    "ProfileView",
    "ReportScope",
    "VisitorView",
    "allowed_actions",
    "authorize",
    "authorize_operator_change",
    "can_work_conversation",
    "conversation_rule",
    "destroyable_rule",
    "ensure_same_workspace",
    "may_assign_to",
    "may_destroy",
    "may_route_to_group",
    "operator_list_scope",
    "operator_view",
    "report_rule",
    "report_scope",
    "visitor_view",
]
