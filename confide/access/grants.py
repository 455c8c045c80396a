"""Grants: time-boxed rights a principal holds beyond its role.

Two kinds, both given by a workspace's admin and both ending by themselves:

- **support** (platform staff, brief §1 and §5 "break-glass access"): ``settings`` (read and
  change the workspace's settings), ``conversation`` (one named conversation) or
  ``conversations_read`` (every conversation of the workspace, read-only). A support principal
  without a live grant sees nothing.
- **archive_custodian** (brief §3): opens named *archived* conversations, only while the
  justification it was granted for (restore after an incident, or a legal requisition) is open.

A grant counts only while it lives: not expired (``expires_at`` compared with
``confide.core.clock.utcnow``), for the principal's own workspace, and for a custodian with its
justification still open. An expired grant is the same as no grant, so nothing has to revoke it
on time. Storing, granting and auditing grants belongs to the support-access and retention
issues; this module only says what a grant a principal carries allows.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_

from confide.access.rules import ACTIVE, ARCHIVED, ConversationAccess, ConversationColumns
from confide.core.clock import utcnow


class GrantKind(enum.StrEnum):
    SUPPORT = "support"
    ARCHIVE_CUSTODIAN = "archive_custodian"


class SupportScope(enum.StrEnum):
    SETTINGS = "settings"  # the workspace's settings, nothing personal
    CONVERSATION = "conversation"  # one conversation, to read and work
    CONVERSATIONS_READ = "conversations_read"  # every active conversation, read-only


class ArchiveJustification(enum.StrEnum):
    """Why an archived conversation may be opened at all (brief §3)."""

    RESTORE_AFTER_INCIDENT = "restore_after_incident"
    LEGAL_REQUISITION = "legal_requisition"


@dataclass(frozen=True)
class Grant:
    """One right held beyond the principal's role, for one workspace, until ``expires_at``.

    Build with :meth:`support` or :meth:`archive_custodian`; the constructor checks that the
    fields fit the kind and raises ``ValueError`` otherwise (a programming error, never input).
    """

    kind: GrantKind
    workspace_id: uuid.UUID
    expires_at: datetime  # timezone-aware UTC
    scope: SupportScope | None = None  # support grants only
    conversation_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    justification: ArchiveJustification | None = None  # custodian grants only
    justification_closed_at: datetime | None = None  # set when the case is closed

    def __post_init__(self) -> None:
        if self.expires_at.tzinfo is None:
            raise ValueError("Grant.expires_at must be timezone-aware (confide.core.clock).")
        if self.kind is GrantKind.SUPPORT:
            if self.scope is None or self.justification is not None:
                raise ValueError("A support grant has a scope and no justification.")
            if (self.scope is SupportScope.CONVERSATION) != bool(self.conversation_ids):
                raise ValueError("A support grant names conversations only for that scope.")
            if self.scope is SupportScope.CONVERSATION and len(self.conversation_ids) != 1:
                raise ValueError("A support grant of scope 'conversation' names exactly one.")
        elif self.scope is not None or self.justification is None or not self.conversation_ids:
            raise ValueError("A custodian grant names conversations and a justification.")

    @classmethod
    def support(
        cls,
        workspace_id: uuid.UUID,
        scope: SupportScope,
        expires_at: datetime,
        conversation_id: uuid.UUID | None = None,
    ) -> Grant:
        ids = frozenset({conversation_id}) if conversation_id is not None else frozenset()
        return cls(GrantKind.SUPPORT, workspace_id, expires_at, scope, ids)

    @classmethod
    def archive_custodian(
        cls,
        workspace_id: uuid.UUID,
        conversation_ids: Iterable[uuid.UUID],
        justification: ArchiveJustification,
        expires_at: datetime,
        justification_closed_at: datetime | None = None,
    ) -> Grant:
        return cls(
            GrantKind.ARCHIVE_CUSTODIAN,
            workspace_id,
            expires_at,
            conversation_ids=frozenset(conversation_ids),
            justification=justification,
            justification_closed_at=justification_closed_at,
        )

    def is_live(self, workspace_id: uuid.UUID | None, now: datetime) -> bool:
        """Does this grant count for a principal of ``workspace_id`` at ``now``?"""
        if workspace_id is None or self.workspace_id != workspace_id or now >= self.expires_at:
            return False
        return self.justification_closed_at is None or now < self.justification_closed_at


def live_grants(
    grants: Iterable[Grant], workspace_id: uuid.UUID | None, now: datetime | None = None
) -> tuple[Grant, ...]:
    """The grants that count now (``now`` defaults to ``utcnow()``); expired ones are absent."""
    moment = now or utcnow()
    return tuple(g for g in grants if g.is_live(workspace_id, moment))


def support_scopes(grants: Iterable[Grant]) -> frozenset[SupportScope]:
    """Scopes of the support grants among ``grants`` (pass live grants only)."""
    return frozenset(g.scope for g in grants if g.kind is GrantKind.SUPPORT and g.scope is not None)


def granted_conversations(
    grants: Iterable[Grant], kind: GrantKind, scope: SupportScope | None = None
) -> frozenset[uuid.UUID]:
    """Conversation ids named by the grants of ``kind`` (and ``scope``) among ``grants``."""
    ids: set[uuid.UUID] = set()
    for grant in grants:
        if grant.kind is kind and (scope is None or grant.scope is scope):
            ids |= grant.conversation_ids
    return frozenset(ids)


def grant_reach(
    grants: Iterable[Grant], c: ConversationColumns, access: ConversationAccess, *, support: bool
) -> list[ColumnElement[bool]]:
    """What live ``grants`` open, as WHERE clauses over ``c`` (OR-ed into the policy's rule):

    - support (``support=True``: the holder is a support account): scope ``conversation`` opens
      that active, unrestricted conversation to read and work; ``conversations_read`` opens every
      active, unrestricted one to read;
    - archive custodian: the archived conversations named, to read (restore after an incident,
      legal requisition), restricted or not (GDPR Art. 18(2) allows legal claims).
    """
    live = tuple(grants)
    reach: list[ColumnElement[bool]] = []
    if support:
        one = granted_conversations(live, GrantKind.SUPPORT, SupportScope.CONVERSATION)
        if one:
            reach.append(
                and_(c.lifecycle == ACTIVE, c.restricted.is_(False), c.id.in_(sorted(one)))
            )
        if access is ConversationAccess.READ and (
            SupportScope.CONVERSATIONS_READ in support_scopes(live)
        ):
            reach.append(and_(c.lifecycle == ACTIVE, c.restricted.is_(False)))
    archived = granted_conversations(live, GrantKind.ARCHIVE_CUSTODIAN)
    if archived and access is ConversationAccess.READ:
        reach.append(and_(c.lifecycle == ARCHIVED, c.id.in_(sorted(archived))))
    return reach
