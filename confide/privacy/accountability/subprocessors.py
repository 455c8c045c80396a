"""The subprocessor list, the controller's own details, and the transfer checks that use them.

Why here: a recipient outside the EEA needs a recorded safeguard (GDPR Art. 44-46) before any
data goes there. The list is the one place those safeguards are recorded, so adding a
subprocessor, and configuring an outbound webhook (``confide.chat.channels.endpoints``), both
ask :func:`check_transfer` / :func:`check_webhook_transfer`, and the record of processing
(``processing_record``) lists exactly what is stored here.

Entries with no workspace are the deployment's own (added from the command line by the
operator of the platform) and appear in every workspace's record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, cast

import httpx
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.audit.ledger import append
from confide.chat.models import ChannelEndpoint
from confide.core.clock import utcnow
from confide.core.errors import Conflict, NotFound, TransferNotSafeguarded, ValidationFailed
from confide.core.residency import (
    SAFEGUARDS,
    Safeguard,
    in_eea,
    normalise_country,
    transfer_problem,
)
from confide.privacy.accountability.models import ControllerProfile, Subprocessor

if TYPE_CHECKING:
    from confide.runtime import Runtime

PROFILE_FIELDS = (
    "controller_name",
    "controller_contact",
    "representative",
    "dpo_contact",
    "authority_name",
    "authority_email",
)
REQUIRED_PROFILE_FIELDS = ("controller_name", "controller_contact")


def render_subprocessor(row: Subprocessor) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "scope": "deployment" if row.workspace_id is None else "workspace",
        "name": row.name,
        "service": row.service,
        "country": row.country,
        "host": row.host,
        "safeguard": row.safeguard,
        "safeguard_date": row.safeguard_date.isoformat() if row.safeguard_date else None,
    }


def check_transfer(
    country: str, safeguard: str | None, safeguard_date: date | None, *, field: str
) -> str:
    """The normalised country; raises :class:`ValidationFailed` for a bad code and
    :class:`TransferNotSafeguarded` (naming ``field``) outside the EEA without a safeguard."""
    try:
        code = normalise_country(country)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field) from exc
    if safeguard is not None and safeguard not in SAFEGUARDS:
        raise ValidationFailed("safeguard is 'adequacy' or 'scc'.", field="safeguard")
    problem = transfer_problem(code, safeguard, safeguard_date)
    if problem is not None:
        raise TransferNotSafeguarded(problem, field=field)
    return code


async def visible_subprocessors(
    session: AsyncSession, workspace_id: uuid.UUID | None
) -> list[Subprocessor]:
    """The deployment's subprocessors and, for a workspace, its own (ix_subprocessors_...)."""
    scope: ColumnElement[bool] = Subprocessor.workspace_id.is_(None)
    if workspace_id is not None:
        scope = or_(scope, Subprocessor.workspace_id == workspace_id)
    rows = await session.scalars(
        select(Subprocessor).where(scope).order_by(Subprocessor.name, Subprocessor.id)
    )
    return list(rows.all())


async def check_webhook_transfer(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    url: str,
    country: str | None,
    *,
    field: str = "outbound_country",
) -> str | None:
    """For an outbound webhook to ``url`` in ``country`` (None: the deployment's region):
    outside the EEA, a subprocessor entry for the URL's host in that country must record the
    safeguard. Returns the normalised country; raises :class:`TransferNotSafeguarded`."""
    if country is None:
        return None
    try:
        code = normalise_country(country)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field) from exc
    if transfer_problem(code, None, None) is None:
        return code
    host = httpx.URL(url).host.lower()
    for entry in await visible_subprocessors(session, workspace_id):
        if (entry.host or "").lower() == host and entry.country == code:
            problem = transfer_problem(
                code, cast(Safeguard | None, entry.safeguard), entry.safeguard_date
            )
            if problem is None:
                return code
    raise TransferNotSafeguarded(
        f"{code} is outside the EEA: add the receiver ({host}) as a subprocessor in {code} with "
        "its safeguard (Settings → Subprocessors) before sending replies there.",
        field=field,
    )


async def list_subprocessors(rt: Runtime, principal: Principal) -> list[dict[str, Any]]:
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    async with rt.db.session() as session:
        rows = await visible_subprocessors(session, principal.workspace_id)
    return [render_subprocessor(r) for r in rows]


async def do_add_subprocessor(
    rt: Runtime,
    principal: Principal | None,
    *,
    name: str,
    service: str,
    country: str,
    host: str | None = None,
    safeguard: str | None = None,
    safeguard_date: date | None = None,
) -> dict[str, Any]:
    """Add a subprocessor to the principal's workspace (``None``: the deployment's list, from
    the command line). Raises :class:`TransferNotSafeguarded` (field ``country``) outside the
    EEA without a safeguard."""
    if principal is not None:
        policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    workspace_id = principal.workspace_id if principal is not None else None
    for field, value, limit in (("name", name, 200), ("service", service, 300)):
        if not value.strip() or len(value) > limit:
            raise ValidationFailed(f"Give the {field} (at most {limit} characters).", field=field)
    code = check_transfer(country, safeguard, safeguard_date, field="country")
    async with rt.db.transaction() as tx:
        row = Subprocessor(
            workspace_id=workspace_id,
            name=name.strip(),
            service=service.strip(),
            country=code,
            host=host.strip().lower() if host and host.strip() else None,
            safeguard=safeguard,
            safeguard_date=safeguard_date,
        )
        tx.add(row)
        await tx.flush()
        await append(
            tx,
            rt,
            principal,
            "subprocessor.add",
            resource=f"subprocessor:{row.id}",
            details={"name": row.name, "country": code, "safeguard": safeguard},
        )
        return render_subprocessor(row)


async def do_remove_subprocessor(
    rt: Runtime, principal: Principal | None, subprocessor_id: uuid.UUID
) -> None:
    """Remove one of the principal's workspace's subprocessors (``None``: the deployment's)."""
    if principal is not None:
        policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    workspace_id = principal.workspace_id if principal is not None else None
    async with rt.db.transaction() as tx:
        row = await tx.get(Subprocessor, subprocessor_id, with_for_update=True)
        if row is None or row.workspace_id != workspace_id:
            raise NotFound("No such subprocessor in this list.", field="subprocessor_id")
        if row.host and not in_eea(row.country):
            await _refuse_if_a_webhook_relies_on(tx, row)
        await tx.delete(row)
        await append(
            tx,
            rt,
            principal,
            "subprocessor.remove",
            resource=f"subprocessor:{subprocessor_id}",
            details={"name": row.name},
        )


async def _refuse_if_a_webhook_relies_on(tx: AsyncSession, row: Subprocessor) -> None:
    """A webhook outside the EEA is lawful through this entry's safeguard: removing it first
    would leave replies flowing with none (Art. 44)."""
    query = select(ChannelEndpoint.outbound_url).where(
        ChannelEndpoint.outbound_country == row.country,
        ChannelEndpoint.outbound_url.is_not(None),
    )
    if row.workspace_id is not None:
        query = query.where(ChannelEndpoint.workspace_id == row.workspace_id)
    for url in (await tx.scalars(query)).all():
        if url and httpx.URL(url).host.lower() == row.host:
            raise Conflict(
                f"An outbound webhook sends replies to {row.host} ({row.country}) under this "
                "entry's safeguard: remove or change it under Settings → Channels first.",
                field="subprocessor_id",
            )


def render_profile(row: ControllerProfile | None) -> dict[str, Any]:
    return {name: getattr(row, name) if row else None for name in PROFILE_FIELDS}


async def read_profile(rt: Runtime, principal: Principal) -> dict[str, Any]:
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    async with rt.db.session() as session:
        return render_profile(await session.get(ControllerProfile, principal.workspace_id))


async def public_contact(rt: Runtime, workspace_id: uuid.UUID) -> str | None:
    """Whom a data subject may contact (the DPO, else the controller), as any privacy notice
    names them (GDPR Art. 13(1)(a)-(b)): public, no permission needed. None if not recorded."""
    async with rt.db.session() as session:
        row = await session.get(ControllerProfile, workspace_id)
    return (row.dpo_contact or row.controller_contact) if row else None


async def do_update_controller_profile(
    rt: Runtime, principal: Principal, changes: Mapping[str, str | None]
) -> dict[str, Any]:
    """Set the controller's details (Art. 30(1)(a)) and its supervisory authority (Art. 33).
    Names and contacts of the organisation, its representative and its DPO: these are
    published details, not the private data of a person."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown controller detail.", field=sorted(unknown)[0])
    async with rt.db.transaction() as tx:
        row = await tx.get(ControllerProfile, principal.workspace_id, with_for_update=True)
        values = render_profile(row)
        for name, value in changes.items():
            text = value.strip() if isinstance(value, str) else None
            if text and len(text) > 500:
                raise ValidationFailed("At most 500 characters.", field=name)
            values[name] = text or None
        for name in REQUIRED_PROFILE_FIELDS:
            if not values[name]:
                raise ValidationFailed(
                    "The record of processing needs the controller's name and contact.",
                    field=name,
                )
        email = values["authority_email"]
        if email and ("@" not in email or len(email) > 254):
            raise ValidationFailed("Give the authority's e-mail address.", field="authority_email")
        if row is None:
            row = ControllerProfile(workspace_id=principal.workspace_id)
            tx.add(row)
        for name in PROFILE_FIELDS:
            setattr(row, name, values[name])
        row.updated_at = utcnow()
        await tx.flush()
        await append(
            tx,
            rt,
            principal,
            "controller_profile.update",
            resource=f"workspace:{principal.workspace_id}",
            details={"fields": sorted(changes)},
        )
        return render_profile(row)
