"""Records of processing (Art. 30) and the DPA annex as JSON, Markdown or PDF; the
subprocessor list; the controller's details. Admins of a workspace."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Response

from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas_accountability import ControllerProfileWrite, SubprocessorWrite
from confide.privacy.accountability import render, subprocessors
from confide.privacy.accountability.annex import build_annex
from confide.privacy.accountability.processing_record import build_record

router = APIRouter(tags=["accountability"])
Format = Literal["json", "md", "pdf"]
MEDIA_TYPES = {
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
}


async def export(doc: dict[str, Any], format: Format, name: str) -> Response:
    """``doc`` in ``format``, as a download named after the workspace."""
    if format == "pdf":
        body: bytes | str = await render.to_pdf(doc)
    elif format == "md":
        body = render.to_markdown(doc)
    else:
        body = render.to_json(doc)
    filename = f"{name}-{doc['workspace']['slug']}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=MEDIA_TYPES[format], headers=headers)


@router.get("/records/processing")
async def processing_record(
    principal: OperatorDep, rt: RuntimeDep, format: Format = "json"
) -> Response:
    """The workspace's record of processing activities (GDPR Art. 30), from live settings."""
    return await export(await build_record(rt, principal), format, "record-of-processing")


@router.get("/records/dpa-annex")
async def dpa_annex(principal: OperatorDep, rt: RuntimeDep, format: Format = "json") -> Response:
    """The annex of the data processing agreement (Art. 28(3)), from the same sources."""
    return await export(await build_annex(rt, principal), format, "dpa-annex")


@router.get("/subprocessors")
async def list_subprocessors(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"subprocessors": await subprocessors.list_subprocessors(rt, principal)}


@router.post("/subprocessors", status_code=201)
async def add_subprocessor(
    body: SubprocessorWrite, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """Add a subprocessor; outside the EEA its safeguard is required (422 naming ``country``)."""
    return await subprocessors.do_add_subprocessor(rt, principal, **body.model_dump())


@router.delete("/subprocessors/{subprocessor_id}", status_code=204)
async def remove_subprocessor(
    subprocessor_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    await subprocessors.do_remove_subprocessor(rt, principal, subprocessor_id)
    return Response(status_code=204)


@router.get("/controller-profile")
async def read_controller_profile(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return await subprocessors.read_profile(rt, principal)


@router.put("/controller-profile")
async def update_controller_profile(
    body: ControllerProfileWrite, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The controller's details for the record (Art. 30(1)(a)) and its authority (Art. 33)."""
    return await subprocessors.do_update_controller_profile(rt, principal, body.model_dump())
