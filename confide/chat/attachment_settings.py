"""A workspace's attachment limits: whether files are accepted, how large, which types.

Defaults (no row yet): on, 10 MB, every type ``confide.chat.filetypes`` knows. The instance's
``attachment_max_bytes`` caps every workspace (it is also the upload routes' body limit).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Action, Principal, authorize
from confide.audit import ledger
from confide.chat.attachment_models import AttachmentSettings
from confide.chat.filetypes import DEFAULT_ALLOWED_TYPES, FILE_TYPES
from confide.core.clock import utcnow
from confide.core.errors import ValidationFailed
from confide.runtime import Runtime

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


async def load_settings(session: AsyncSession, workspace_id: uuid.UUID) -> AttachmentSettings:
    """The workspace's settings, or the defaults (not stored) when it has none."""
    row = await session.get(AttachmentSettings, workspace_id)
    if row is not None:
        return row
    return AttachmentSettings(
        workspace_id=workspace_id,
        enabled=True,
        max_bytes=DEFAULT_MAX_BYTES,
        allowed_types=list(DEFAULT_ALLOWED_TYPES),
    )


def render_settings(row: AttachmentSettings, ceiling_bytes: int) -> dict[str, Any]:
    return {
        "enabled": row.enabled,
        "max_bytes": min(row.max_bytes, ceiling_bytes),
        "allowed_types": list(row.allowed_types),
        "known_types": list(FILE_TYPES),
    }


async def do_update_attachment_settings(
    rt: Runtime,
    principal: Principal,
    *,
    enabled: bool,
    max_bytes: int,
    allowed_types: Iterable[str],
) -> dict[str, Any]:
    """Set the principal's workspace limits (admins: ``workspace.settings``). Raises
    ``ValidationFailed`` naming ``max_bytes`` (not 1 KB to the instance's ceiling) or
    ``allowed_types`` (an unknown type)."""
    authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    ceiling = rt.settings.attachment_max_bytes
    if not 1024 <= max_bytes <= ceiling:
        raise ValidationFailed(
            f"Choose a limit from 1 KB to {ceiling} bytes (this server's ceiling).",
            field="max_bytes",
        )
    types = sorted(set(allowed_types))
    unknown = [t for t in types if t not in FILE_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown file types: {', '.join(unknown)}; choose from {', '.join(FILE_TYPES)}.",
            field="allowed_types",
        )
    async with rt.db.transaction() as tx:
        row = await tx.get(AttachmentSettings, principal.workspace_id, with_for_update=True)
        if row is None:
            row = AttachmentSettings(workspace_id=principal.workspace_id)
            tx.add(row)
        row.enabled = enabled
        row.max_bytes = max_bytes
        row.allowed_types = types
        row.updated_at = utcnow()
        await tx.flush()
        await ledger.append(
            tx,
            rt,
            principal,
            "workspace.attachment_settings_changed",
            resource=f"workspace:{principal.workspace_id}",
            details={"enabled": enabled, "max_bytes": max_bytes, "allowed_types": types},
        )
    return render_settings(row, ceiling)
