"""Loading the live grants of an operator into their principal, on every request and socket.

Why here and not in the policy: the policy (``confide.access.grants``) decides what a grant
allows and treats an expired grant as absent, so nothing has to revoke it on time; this module
only reads the stored rows (``access_grants``) that are neither revoked nor expired, one
indexed query per authentication (``ix_access_grants_grantee``).

Support accounts belong to no workspace: a support principal *enters* the workspace its live
grants are for. With grants in several workspaces the caller names one (``X-Confide-Workspace``
on REST, ``?workspace=`` on the console socket); without a live grant the principal stays
outside every workspace and sees nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.grant_models import AccessGrant
from confide.access.grants import ArchiveJustification, Grant, GrantKind, SupportScope
from confide.access.models import Role
from confide.access.policy.principals import Principal
from confide.core.clock import utcnow

# What a custodian files (issue 13) -> the policy's justification.
CUSTODIAN_REASONS: dict[str, ArchiveJustification] = {
    "incident-restore": ArchiveJustification.RESTORE_AFTER_INCIDENT,
    "legal-requisition": ArchiveJustification.LEGAL_REQUISITION,
}


def grant_of(row: AccessGrant) -> Grant:
    """The policy's :class:`Grant` for a stored row."""
    if row.kind == GrantKind.SUPPORT.value:
        assert row.scope is not None
        return Grant.support(
            row.workspace_id, SupportScope(row.scope), row.expires_at, row.conversation_id
        )
    assert row.conversation_id is not None
    return Grant.archive_custodian(
        row.workspace_id,
        [row.conversation_id],
        CUSTODIAN_REASONS.get(row.reason, ArchiveJustification.RESTORE_AFTER_INCIDENT),
        row.expires_at,
    )


async def live_grant_rows(
    session: AsyncSession, operator_id: uuid.UUID, now: datetime | None = None
) -> list[AccessGrant]:
    """The operator's grants that are not revoked and not expired at ``now``."""
    moment = now or utcnow()
    # ix_access_grants_grantee
    query = select(AccessGrant).where(
        AccessGrant.grantee_id == operator_id,
        AccessGrant.expires_at > moment,
        AccessGrant.revoked_at.is_(None),
    )
    return list((await session.scalars(query)).all())


async def attach_grants(
    session: AsyncSession, principal: Principal, workspace_hint: uuid.UUID | None = None
) -> Principal:
    """``principal`` with its live grants; a support account also enters the workspace they
    are for (``workspace_hint`` chooses among several; see the module doc)."""
    if principal.kind != "operator" or principal.operator_id is None:
        return principal
    rows = await live_grant_rows(session, principal.operator_id)
    if principal.role is Role.SUPPORT:
        workspaces = {row.workspace_id for row in rows}
        entered: uuid.UUID | None = None
        if workspace_hint is not None and workspace_hint in workspaces:
            entered = workspace_hint
        elif workspace_hint is None and len(workspaces) == 1:
            entered = next(iter(workspaces))
        grants = tuple(grant_of(row) for row in rows if row.workspace_id == entered)
        return dataclasses.replace(principal, workspace_id=entered, grants=grants)
    grants = tuple(
        grant_of(row)
        for row in rows
        if row.workspace_id == principal.workspace_id
        and row.kind == GrantKind.ARCHIVE_CUSTODIAN.value
    )
    return dataclasses.replace(principal, grants=grants) if grants else principal


def seconds_until_lapse(principal: Principal, now: datetime | None = None) -> float | None:
    """Seconds until the first of the principal's grants expires (0 when one already has);
    ``None`` without grants. Open sockets wake then and reload the principal."""
    if not principal.grants:
        return None
    moment = now or utcnow()
    first = min(grant.expires_at for grant in principal.grants)
    return max(0.0, (first - moment).total_seconds())


def grants_lapsed(principal: Principal, now: datetime | None = None) -> bool:
    """True when a grant the principal was loaded with has expired since."""
    remaining = seconds_until_lapse(principal, now)
    return remaining is not None and remaining <= 0
