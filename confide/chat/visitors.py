"""Visitors: a random VUID issued by the server, and what identify attaches to it (in the vault).

The widget receives the VUID and a signed visitor token; the token proves possession, the VUID
is what the host site's backend uses to identify the visitor through the API.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal, VisitorView
from confide.access.workspaces import find_workspace_by_slug
from confide.audit.ledger import append
from confide.chat.models import Visitor
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import InvalidToken, NotFound, ValidationFailed
from confide.privacy import consent
from confide.privacy.access import read_people
from confide.privacy.models import Subject

if TYPE_CHECKING:
    from confide.runtime import Runtime

VUID_PREFIX = "v_"
# The vault fields each view that names a visitor may decrypt (``None``: all of them).
_NAMED_VIEWS: dict[VisitorView, tuple[str, ...] | None] = {
    VisitorView.FULL: None,
    VisitorView.WORKING: ("name", "attributes"),
}
MAX_ATTRIBUTES = 50


@dataclass(frozen=True)
class VisitorSession:
    visitor_id: uuid.UUID
    workspace_id: uuid.UUID
    vuid: str
    token: str


def new_vuid() -> str:
    return VUID_PREFIX + secrets.token_urlsafe(18)


async def do_create_visitor(rt: Runtime, workspace_slug: str) -> VisitorSession:
    workspace = await find_workspace_by_slug(rt, workspace_slug)
    if workspace is None:
        raise NotFound("No workspace with that id; check the widget's data-workspace.")
    async with rt.db.transaction() as session:
        visitor = await add_visitor(rt, session, workspace.id)
    return VisitorSession(
        visitor.id,
        workspace.id,
        visitor.vuid,
        rt.tokens.issue_visitor_token(visitor.id, workspace.id),
    )


async def add_visitor(rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID) -> Visitor:
    """A new visitor (and its vault subject), inside the caller's transaction."""
    subject_id = await rt.vault.create_subject(session, workspace_id=workspace_id, kind="visitor")
    visitor = Visitor(workspace_id=workspace_id, vuid=new_vuid(), subject_id=subject_id)
    session.add(visitor)
    await session.flush()
    return visitor


async def authenticate_visitor_token(rt: Runtime, token: str) -> Principal:
    """The visitor a widget token names. Raises ``InvalidToken`` when it has expired
    (``visitor_token_ttl_days``) or the visitor is gone or erased: erasure revokes the token
    at once (GDPR Art. 17), so a copy of it reads nothing afterwards."""
    visitor_id, workspace_id = rt.tokens.read_visitor_token(token)
    async with rt.db.session() as session:
        found = (
            await session.execute(
                select(Visitor, Subject.erased_at)
                .join(Subject, Subject.id == Visitor.subject_id)
                .where(Visitor.id == visitor_id)
            )
        ).first()
    visitor, erased_at = found if found is not None else (None, None)
    if visitor is None or erased_at is not None or visitor.workspace_id != workspace_id:
        raise InvalidToken("This visitor no longer exists; start a new chat.")
    return Principal(kind="visitor", workspace_id=workspace_id, visitor_id=visitor_id)


def clean_identity(fields: dict[str, Any]) -> dict[str, str | None]:
    """Identity fields as the vault stores them; refuses malformed custom attributes."""
    cleaned: dict[str, str | None] = {}
    for name in ("name", "email", "phone"):
        if name in fields:
            value = fields[name]
            cleaned[name] = value.strip() if isinstance(value, str) and value.strip() else None
    if "attributes" in fields:
        attributes = fields["attributes"]
        if attributes is None:
            cleaned["attributes"] = None
        else:
            if not isinstance(attributes, dict) or len(attributes) > MAX_ATTRIBUTES:
                raise ValidationFailed(
                    f"Send at most {MAX_ATTRIBUTES} custom attributes as an object.",
                    field="attributes",
                )
            cleaned["attributes"] = json.dumps(attributes, sort_keys=True, separators=(",", ":"))
    return cleaned


async def merge_identity(
    rt: Runtime, session: AsyncSession, visitor: Visitor, cleaned: dict[str, str | None]
) -> None:
    """Write identity fields (from :func:`clean_identity`; ``None`` removes a field) inside the
    caller's transaction. Custom attributes are merged into those already there (an attribute
    set to ``None`` is removed). Raises ``ConsentRequired`` (403) when the workspace requires
    consent the visitor does not grant (``consent.require_for_storage``)."""
    if any(value is not None for value in cleaned.values()):
        await consent.require_for_storage(rt, session, visitor.workspace_id, visitor.id)
    updates = dict(cleaned)
    if updates.get("attributes"):
        existing = (await rt.vault.read_fields(session, [visitor.subject_id], ["attributes"]))[
            visitor.subject_id
        ].get("attributes")
        merged = {
            **(json.loads(existing) if existing else {}),
            **json.loads(updates["attributes"] or "{}"),
        }
        merged = {k: v for k, v in merged.items() if v is not None}
        updates["attributes"] = json.dumps(merged, sort_keys=True, separators=(",", ":"))
    await rt.vault.write_fields(session, visitor.subject_id, updates)


async def do_identify_visitor(
    rt: Runtime,
    principal: Principal,
    workspace_id: uuid.UUID,
    *,
    vuid: str | None = None,
    visitor_id: uuid.UUID | None = None,
    fields: dict[str, Any],
) -> uuid.UUID:
    """Attach identity fields to a visitor (``None`` removes a field). Custom attributes are
    merged into what was there. Recorded as ``visitor.identify`` (the field names, never their
    values) in the same unit. Raises :class:`NotFound` (``vuid``) for an unknown visitor."""
    cleaned = clean_identity(fields)
    async with rt.db.transaction() as session:
        query = select(Visitor).where(Visitor.workspace_id == workspace_id)
        if visitor_id is not None:
            query = query.where(Visitor.id == visitor_id)
        else:
            query = query.where(Visitor.vuid == vuid)
        visitor = await session.scalar(query)
        if visitor is None:
            raise NotFound("No visitor with that VUID in this workspace.", field="vuid")
        await merge_identity(rt, session, visitor, cleaned)
        visitor.last_seen_at = utcnow()
        await append(
            session,
            rt,
            principal,
            "visitor.identify",
            subject_id=visitor.subject_id,
            resource=f"visitor:{visitor.id}",
            details={"fields": sorted(fields)},
        )
        return visitor.id


async def subject_of(session: AsyncSession, visitor_id: uuid.UUID | None) -> uuid.UUID | None:
    """The vault subject (the person) behind a visitor: whom an audit record about them names."""
    if visitor_id is None:
        return None
    subject_id: uuid.UUID | None = await session.scalar(
        select(Visitor.subject_id).where(Visitor.id == visitor_id)
    )
    return subject_id


async def visitor_profiles(
    tx: UnitOfWork,
    rt: Runtime,
    principal: Principal,
    views: Mapping[uuid.UUID, VisitorView],
    *,
    action: str,
    resource: str,
    details: Mapping[str, Any] | None = None,
) -> dict[uuid.UUID, dict[str, Any]]:
    """Identity of visitors, each as much as its view (``confide.access.policy.visitor_view``)
    allows: full: name, e-mail, phone, attributes; working: name and attributes (e-mail and
    phone are not even decrypted); pseudonymous: the visitor id only; none: nothing. The
    identities returned are read through ``privacy.access``: one ``action`` record naming
    them all, in ``tx``."""
    profiles: dict[uuid.UUID, dict[str, Any]] = {
        vid: {"id": str(vid), "view": view.value}
        for vid, view in views.items()
        if view is VisitorView.PSEUDONYMOUS
    }
    shown = {vid: view for vid, view in views.items() if view in _NAMED_VIEWS}
    if not shown:
        return profiles
    visitors = (await tx.scalars(select(Visitor).where(Visitor.id.in_(list(shown))))).all()
    fields = await read_people(
        tx,
        rt,
        principal,
        {v.subject_id: _NAMED_VIEWS[shown[v.id]] for v in visitors},
        action=action,
        resource=resource,
        details=details,
    )
    for visitor in visitors:
        view = shown[visitor.id]
        values = fields.get(visitor.subject_id, {})
        profile: dict[str, Any] = {
            "id": str(visitor.id),
            "view": view.value,
            "vuid": visitor.vuid,
            "name": values.get("name"),
        }
        if view is VisitorView.FULL:
            profile.update(email=values.get("email"), phone=values.get("phone"))
        attributes = values.get("attributes")
        profile["attributes"] = json.loads(attributes) if attributes else {}
        profiles[visitor.id] = profile
    return profiles
