"""The audit ledger for auditors: a page of it, or all of it as JSON lines. Reading is audited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from confide.access import policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, RuntimeDep
from confide.audit import ledger

router = APIRouter(prefix="/audit", tags=["audit"])
PAGE_LIMIT = 500
MAX_SEQ = 2**63 - 1  # BIGINT


@router.get("")
async def read_audit_log(
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> dict[str, Any]:
    """Newest first; pass the last ``seq`` as ``before_seq`` for the next page."""
    policy.authorize(principal, Action.AUDIT_READ)
    events, has_more = await ledger.read_page(rt, principal, limit=limit, before_seq=before_seq)
    return {"events": events, "has_more": has_more}


@router.get("/export")
async def export_audit_log(
    request: Request, principal: OperatorDep, rt: RuntimeDep
) -> StreamingResponse:
    """The whole chain, oldest first, one JSON object per line."""
    policy.authorize(principal, Action.AUDIT_READ)
    events = await ledger.open_export(rt, principal)

    async def lines() -> AsyncIterator[str]:
        async for event in events:
            yield json.dumps(event, sort_keys=True) + "\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="confide-audit.jsonl"'},
    )
