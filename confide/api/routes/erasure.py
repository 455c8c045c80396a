"""Erasure of a data subject (GDPR Art. 17) by an admin: a visitor, an operator, or whoever
has an e-mail address or phone number. The action (``confide.privacy.erasure``) checks the
rights, records ``subject.erase`` and destroys the keys; this module only parses and renders."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.core.errors import ValidationFailed
from confide.privacy.erasure import do_erase_subject, do_erase_subjects_by
from confide.privacy.erasure_walk import ErasureReport

router = APIRouter(tags=["erasure"])


class SubjectErase(RequestModel):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)


def _render(report: ErasureReport, person_id: uuid.UUID) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "id": str(person_id),
        "erased": True,
        "conversations": report.conversations,
        "keys_destroyed": report.keys,
        "rows": report.rows,
    }


@router.post("/visitors/{visitor_id}/erase")
async def erase_visitor(
    visitor_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    report = await do_erase_subject(rt, principal, "visitor", visitor_id)
    return _render(report, visitor_id)


@router.post("/operators/{operator_id}/erase")
async def erase_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    report = await do_erase_subject(rt, principal, "operator", operator_id)
    return _render(report, operator_id)


@router.post("/subjects/erase")
async def erase_subjects(
    body: SubjectErase, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    given = [(k, v) for k, v in (("email", body.email), ("phone", body.phone)) if v]
    if len(given) != 1:
        raise ValidationFailed(
            "Give exactly one of an e-mail address or a phone number.", field="email"
        )
    field_name, value = given[0]
    if principal.workspace_id is None:
        raise ValidationFailed("Erasure acts on one workspace; sign in to it.", field="workspace")
    reports = await do_erase_subjects_by(rt, principal, principal.workspace_id, field_name, value)
    return {"erased": [{"kind": r.kind, "conversations": r.conversations} for r in reports]}
