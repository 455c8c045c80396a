"""Data-subject request cases for admins (GDPR Art. 12-21): list by urgency, open, change,
assign, carry out, reject, lift a restriction; receipts; the workspace's request settings.
Widget visitors file their own requests here too. The actions
(``confide.privacy.requests``) check the rights and record every change; this module only
parses and renders."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from confide.api.deps import OperatorDep, RuntimeDep, VisitorDep
from confide.api.schemas import RequestModel
from confide.core.errors import NotFound, ValidationFailed
from confide.privacy.requests.acts import (
    do_carry_out_case,
    do_lift_restriction,
    do_reject_case,
)
from confide.privacy.requests.answers import case_download_link, visitor_case
from confide.privacy.requests.cases import (
    do_assign_case,
    do_change_case,
    do_file_widget_request,
    do_open_case,
    do_set_request_settings,
)
from confide.privacy.requests.queries import case_history, case_receipt, list_cases

router = APIRouter(tags=["data-subject requests"])
Kind = Literal["access", "portability", "rectification", "erasure", "restriction", "objection"]
Processing = Literal["engagement_rules", "enrichment", "surveys"]


class CaseOpen(RequestModel):
    kind: Kind
    channel: Literal["console", "api", "email", "letter", "phone"] = "console"
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    visitor_id: uuid.UUID | None = None
    verified: bool = False
    processing: Processing | None = None


class CaseStatus(RequestModel):
    status: Literal["awaiting_verification", "verified", "in_progress", "extended"]
    reason: str | None = Field(default=None, max_length=1000)


class CaseAssign(RequestModel):
    assignee_id: uuid.UUID | None


class CaseCarryOut(RequestModel):
    fields: dict[Literal["name", "email", "phone"], str | None] | None = None


class CaseReject(RequestModel):
    reason: str = Field(min_length=1, max_length=1000)


class RequestSettings(RequestModel):
    target_days: int = Field(ge=1, le=30)
    instant_download: bool = False


class WidgetRequest(RequestModel):
    kind: Kind
    processing: Processing | None = None


def _workspace(principal: OperatorDep) -> uuid.UUID:
    if principal.workspace_id is None:
        raise ValidationFailed(
            "Requests belong to one workspace; sign in to it.", field="workspace"
        )
    return principal.workspace_id


@router.get("/dsr/cases")
async def cases(principal: OperatorDep, rt: RuntimeDep, open_only: bool = False) -> dict[str, Any]:
    found = await list_cases(rt, principal, _workspace(principal), open_only=open_only)
    return {"cases": [c.as_dict() for c in found]}


@router.post("/dsr/cases", status_code=201)
async def open_case(body: CaseOpen, principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    case = await do_open_case(
        rt,
        principal,
        _workspace(principal),
        kind=body.kind,
        channel=body.channel,
        email=body.email,
        phone=body.phone,
        visitor_id=body.visitor_id,
        verified=body.verified,
        processing=body.processing,
    )
    return case.as_dict()


@router.get("/dsr/cases/{case_id}")
async def show_case(case_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    case, history = await case_history(rt, principal, case_id)
    return {**case.as_dict(), "history": history}


@router.get("/dsr/cases/{case_id}/receipt")
async def receipt(case_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    document = await case_receipt(rt, principal, case_id)
    if document is None:
        raise NotFound("This request has no receipt yet: it is still open.", field="case_id")
    return document


@router.get("/dsr/cases/{case_id}/download")
async def download_link(
    case_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """A signed, short-lived link to the case's export ZIP (access and portability); 404
    saying why there is none (e.g. nothing held any more: the person was erased)."""
    issued_by = f"operator:{principal.operator_id}"
    return await case_download_link(rt, principal, case_id, issued_by=issued_by)


@router.post("/dsr/cases/{case_id}/status")
async def change_case(
    case_id: uuid.UUID, body: CaseStatus, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return (await do_change_case(rt, principal, case_id, body.status, reason=body.reason)).as_dict()


@router.post("/dsr/cases/{case_id}/assign")
async def assign_case(
    case_id: uuid.UUID, body: CaseAssign, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return (await do_assign_case(rt, principal, case_id, body.assignee_id)).as_dict()


@router.post("/dsr/cases/{case_id}/carry-out")
async def carry_out_case(
    case_id: uuid.UUID, body: CaseCarryOut, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    fields = {str(k): v for k, v in body.fields.items()} if body.fields is not None else None
    return (await do_carry_out_case(rt, principal, case_id, fields=fields)).as_dict()


@router.post("/dsr/cases/{case_id}/reject")
async def reject_case(
    case_id: uuid.UUID, body: CaseReject, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return (await do_reject_case(rt, principal, case_id, body.reason)).as_dict()


@router.post("/dsr/cases/{case_id}/lift-restriction")
async def lift_restriction(
    case_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return (await do_lift_restriction(rt, principal, case_id)).as_dict()


@router.put("/dsr/settings")
async def request_settings(
    body: RequestSettings, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await do_set_request_settings(
        rt,
        principal,
        _workspace(principal),
        target_days=body.target_days,
        instant_download=body.instant_download,
    )


@router.post("/widget/privacy-requests", status_code=201)
async def widget_request(
    body: WidgetRequest, visitor: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    case = await do_file_widget_request(rt, visitor, body.kind, processing=body.processing)
    return {
        "case_id": str(case.id),
        "kind": case.kind,
        "status": case.status,
        "due_at": case.due_at.isoformat(),
    }


@router.get("/widget/privacy-requests/{case_id}")
async def widget_request_status(
    case_id: uuid.UUID, visitor: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The visitor's own request: status, receipt once completed, and for an access request
    with an export a fresh short-lived link (each download recorded); ``answer`` says
    ``nothing_held`` when no personal data is held any more."""
    return await visitor_case(rt, visitor, case_id)
