"""Access/portability exports of a data subject (GDPR Art. 15, 20) by an admin: a visitor, an
operator, or whoever has an e-mail address or phone number. The actions
(``confide.privacy.export``, ``export_store``) check the rights, build the sealed ZIP and
record ``subject.export`` / ``subject.export_download``; this module only parses and renders.

A POST answers with a short-lived signed link; GET of the link (no sign-in: the link is the
credential, like a password-reset link) streams the ZIP, decrypted on the way out."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from confide.access.policy import Principal
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.core.errors import ValidationFailed
from confide.privacy.export import (
    SCHEMA_PATH,
    ExportResult,
    build_subject_export,
    download_link,
    subjects_by,
)
from confide.privacy.export_store import open_export_download
from confide.privacy.subject_map import SubjectRef
from confide.runtime import Runtime

router = APIRouter(tags=["exports"])


class SubjectExport(RequestModel):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)


async def _export(rt: Runtime, principal: Principal, subject: SubjectRef) -> dict[str, Any]:
    result = await build_subject_export(rt, principal, subject)
    return _render(rt, principal, result)


def _render(rt: Runtime, principal: Principal, result: ExportResult) -> dict[str, Any]:
    token, link_expires_at = download_link(rt, principal, result)
    return {
        "kind": result.subject.kind,
        "id": str(result.subject.person_id),
        "download_url": f"/api/v1/exports/{token}",
        "link_expires_at": link_expires_at.isoformat(),
        "created_at": result.created_at.isoformat(),
        "expires_at": result.expires_at.isoformat(),
        "size_bytes": result.size_bytes,
        "sha256": result.sha256,
        "counts": result.counts,
    }


@router.post("/visitors/{visitor_id}/export")
async def export_visitor(
    visitor_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await _export(rt, principal, SubjectRef("visitor", visitor_id))


@router.post("/operators/{operator_id}/export")
async def export_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await _export(rt, principal, SubjectRef("operator", operator_id))


@router.post("/subjects/export")
async def export_subjects(
    body: SubjectExport, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    given = [(k, v) for k, v in (("email", body.email), ("phone", body.phone)) if v]
    if len(given) != 1:
        raise ValidationFailed(
            "Give exactly one of an e-mail address or a phone number.", field="email"
        )
    if principal.workspace_id is None:
        raise ValidationFailed("An export acts on one workspace; sign in to it.", field="workspace")
    field_name, value = given[0]
    people = await subjects_by(rt, principal, principal.workspace_id, field_name, value)
    return {"exports": [await _export(rt, principal, person) for person in people]}


@router.get("/exports/schema.json")
async def export_schema() -> Response:
    """The JSON Schema of ``data.json`` in every subject export (public: it names no one)."""
    schema = json.loads(SCHEMA_PATH.read_bytes())
    return Response(
        json.dumps(schema, indent=2), media_type="application/schema+json; charset=utf-8"
    )


@router.get("/exports/{token}")
async def download_export(token: str, rt: RuntimeDep) -> StreamingResponse:
    link, chunks = await open_export_download(rt, token)
    filename = f"confide-export-{link.subject_id}.zip"
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
