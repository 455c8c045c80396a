"""Support access, archive custodians and legal holds (issues 13 and 18): parse and render.

The actions (``confide.access.support_access``, ``confide.access.custody``,
``confide.privacy.holds``) check the rights and record themselves in the audit ledger.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from confide.access import custody, support_access
from confide.access.grant_notices import list_workspace_grants
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.privacy import holds

router = APIRouter(tags=["custody"])


class SupportGrantCreate(RequestModel):
    support_username: str = Field(min_length=1, max_length=64)
    scope: Literal["settings", "conversation", "conversations_read"]
    hours: int = Field(description="1 to 168 (7 days).")
    reason: str = Field(max_length=500)
    conversation_id: uuid.UUID | None = None


class CustodianUpdate(RequestModel):
    archive_custodian: bool


class ArchiveOpening(RequestModel):
    reason: str = Field(description="incident-restore or legal-requisition", max_length=32)
    reference: str | None = Field(default=None, max_length=200)
    hours: int = custody.DEFAULT_OPENING_HOURS


class LegalHoldCreate(RequestModel):
    target: Literal["conversation", "subject", "filter"]
    reason: str = Field(max_length=500)
    owner_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    visitor_id: uuid.UUID | None = None
    filter: dict[str, str | None] | None = None


class HoldLift(RequestModel):
    reason: str = Field(max_length=500)


@router.get("/access-grants")
async def list_grants(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    """Every support grant and archive opening of the workspace, with the reads under each."""
    workspace_id = support_access.require_admin(principal)
    return {"grants": await list_workspace_grants(rt, workspace_id)}


@router.post("/access-grants/support", status_code=201)
async def grant_support(
    body: SupportGrantCreate, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await support_access.do_grant_support_access(
        rt,
        principal,
        support_username=body.support_username,
        scope=body.scope,
        hours=body.hours,
        reason=body.reason,
        conversation_id=body.conversation_id,
    )


@router.post("/access-grants/{grant_id}/revoke")
async def revoke_grant(
    grant_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await support_access.do_revoke_grant(rt, principal, grant_id)


@router.get("/archive/custodians")
async def list_custodians(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"custodians": await custody.list_archive_custodians(rt, principal)}


@router.put("/operators/{operator_id}/archive-custodian")
async def set_custodian(
    operator_id: uuid.UUID, body: CustodianUpdate, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await custody.do_set_archive_custodian(
        rt, principal, operator_id, appointed=body.archive_custodian
    )


@router.post("/archive/conversations/{conversation_id}/open", status_code=201)
async def open_archived(
    conversation_id: uuid.UUID, body: ArchiveOpening, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """An archive custodian opens an archived conversation; then the ordinary conversation
    routes read it (each read recorded) until the opening expires or is revoked."""
    return await custody.do_open_archived_conversation(
        rt,
        principal,
        conversation_id,
        reason=body.reason,
        reference=body.reference,
        hours=body.hours,
    )


@router.get("/legal-holds")
async def list_holds(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"holds": await holds.list_legal_holds(rt, principal)}


@router.post("/legal-holds", status_code=201)
async def place_hold(
    body: LegalHoldCreate, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await holds.do_place_legal_hold(
        rt,
        principal,
        target=body.target,
        reason=body.reason,
        owner_id=body.owner_id,
        conversation_id=body.conversation_id,
        visitor_id=body.visitor_id,
        filter_spec=dict(body.filter or {}),
    )


@router.post("/legal-holds/{hold_id}/lift")
async def lift_hold(
    hold_id: uuid.UUID, body: HoldLift, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await holds.do_lift_legal_hold(rt, principal, hold_id, reason=body.reason)
