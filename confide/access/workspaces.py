"""Actions and queries on workspaces (one per customer: the data controller)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from confide.access.models import Workspace
from confide.access.policy import Principal
from confide.access.principal_cache import principals_changed
from confide.audit.ledger import Actor, append
from confide.core.errors import Conflict, NotFound, ValidationFailed

if TYPE_CHECKING:
    from confide.runtime import Runtime

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def check_slug(slug: str, field: str = "slug") -> str:
    if not SLUG_PATTERN.match(slug):
        raise ValidationFailed(
            "Use 1-64 lowercase letters, digits and inner hyphens for the workspace slug.",
            field=field,
        )
    return slug


async def do_create_workspace(
    rt: Runtime, *, slug: str, name: str, mfa_required_for_admins: bool = True
) -> Workspace:
    check_slug(slug)
    try:
        async with rt.db.transaction() as session:
            workspace = Workspace(
                slug=slug, name=name, mfa_required_for_admins=mfa_required_for_admins
            )
            session.add(workspace)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A workspace with slug {slug!r} already exists.", field="slug") from exc
    return workspace


async def do_update_workspace_settings(
    rt: Runtime,
    actor: Principal | None,
    workspace_id: uuid.UUID,
    *,
    name: str | None,
    mfa_required_for_admins: bool | None,
    privacy: Mapping[str, Any] | None = None,
) -> Workspace:
    """Change the workspace's profile, security and privacy settings in one transaction;
    ``privacy`` holds only the privacy settings the caller sent (validated there)."""
    from confide.privacy import settings as privacy_settings
    from confide.privacy.settings_cache import settings_changed

    async with rt.db.transaction() as session:
        workspace = await session.get(Workspace, workspace_id)
        if workspace is None:
            raise NotFound()
        if name is not None:
            workspace.name = name
        if mfa_required_for_admins is not None:
            workspace.mfa_required_for_admins = mfa_required_for_admins
            # Decides whether its admins' sessions may only enrol: every node reloads them.
            session.on_commit(principals_changed, rt, None)
        if privacy:
            await privacy_settings.apply(session, workspace_id, privacy)
            session.on_commit(settings_changed, rt, workspace_id)
        changes: dict[str, Any] = dict(privacy or {})
        if name is not None:
            changes["name"] = name
        if mfa_required_for_admins is not None:
            changes["mfa_required_for_admins"] = mfa_required_for_admins
        await append(
            session,
            rt,
            actor if actor is not None else Actor("system", None, workspace_id),
            "workspace.settings",
            resource=f"workspace:{workspace_id}",
            details=changes,
        )
    return workspace


async def get_workspace(rt: Runtime, workspace_id: uuid.UUID) -> Workspace:
    async with rt.db.session() as session:
        workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound()
    return workspace


async def find_workspace_by_slug(rt: Runtime, slug: str) -> Workspace | None:
    if not SLUG_PATTERN.match(slug):
        return None  # cannot exist; and never send arbitrary bytes to the database
    async with rt.db.session() as session:
        result: Workspace | None = await session.scalar(
            select(Workspace).where(Workspace.slug == slug)
        )
        return result
