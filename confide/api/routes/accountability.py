"""The breach register (admins of a workspace): record, list, notify, close, and the people
an actor's reads exposed, from the audit ledger."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas_accountability import BreachNotify, BreachWrite, ExposureQuery
from confide.privacy.accountability import breach_notices, breaches, exposure
from confide.privacy.accountability.breaches import BreachFacts

router = APIRouter(tags=["accountability"])


@router.get("/breaches")
async def list_breaches(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    """The workspace's breaches and the platform breaches that affected it, with deadlines."""
    return {"breaches": await breaches.list_breaches(rt, principal)}


@router.post("/breaches", status_code=201)
async def record_breach(
    body: BreachWrite, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    facts = BreachFacts(**body.model_dump())
    return await breaches.do_record_breach(rt, principal, facts)


@router.get("/breaches/{breach_id}")
async def read_breach(
    breach_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await breaches.get_breach(rt, principal, breach_id)


@router.post("/breaches/{breach_id}/notifications")
async def notify_breach(
    breach_id: uuid.UUID, body: BreachNotify, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """E-mail the supervisory authority or the data subjects, or record a notification made
    elsewhere."""
    await breach_notices.do_notify_breach(
        rt,
        principal,
        breach_id,
        body.audience,
        reference=body.reference,
        subject_ids=body.subject_ids,
    )
    return await breaches.get_breach(rt, principal, breach_id)


@router.post("/breaches/{breach_id}/close", status_code=204)
async def close_breach(breach_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep) -> Response:
    await breaches.do_close_breach(rt, principal, breach_id)
    return Response(status_code=204)


@router.post("/breaches/{breach_id}/exposed-subjects")
async def exposed_subjects(
    breach_id: uuid.UUID, body: ExposureQuery, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The data subjects whose data ``actor_id`` (an operator or an API key) read, exported or
    changed between ``since`` and ``until``, so the controller can inform them (Art. 34).
    A POST because asking is itself recorded in the ledger (``breach.exposure_read``)."""
    await breaches.get_breach(rt, principal, breach_id)
    subjects = await exposure.do_list_exposed_subjects(
        rt,
        principal,
        actor_id=body.actor_id,
        since=body.since,
        until=body.until,
        breach_id=breach_id,
    )
    return {"subjects": subjects, "count": len(subjects)}
