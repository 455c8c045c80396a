"""Consent: the workspace's requests (admins), the widget's decisions, and signed proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from confide.access import policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, PrincipalDep, RuntimeDep, VisitorDep
from confide.api.schemas import ConsentDecision, ConsentPurpose, ConsentRequestWrite
from confide.privacy import consent, consent_proof, consent_requests
from confide.privacy.requests import limits

router = APIRouter(tags=["consent"])
VuidParam = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/consent/requests")
async def list_consent_requests(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    """Every version of every consent request (the active one of a purpose is not superseded)."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    return {"requests": await consent_requests.list_requests(rt, principal.workspace_id)}


@router.put("/consent/requests/{purpose}")
async def publish_consent_request(
    purpose: ConsentPurpose,
    body: ConsentRequestWrite,
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
) -> dict[str, Any]:
    """Publish a new version of the text shown to visitors for ``purpose``; older versions stay."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    published = await consent_requests.do_publish_request(
        rt,
        principal,
        purpose,
        version=body.version,
        text=body.text,
        store_transcripts=body.store_transcripts,
        language=body.language.lower() if body.language else None,
    )
    return published


@router.get("/visitors/{vuid}/consent-proof")
async def visitor_consent_proof(
    vuid: VuidParam, request: Request, principal: PrincipalDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The visitor's decisions with the exact texts shown, signed (admins and API keys)."""
    policy.authorize(principal, Action.CONSENT_PROOF_READ)
    assert principal.workspace_id is not None
    visitor_id = await consent_proof.find_visitor(rt, principal.workspace_id, vuid)
    return await consent_proof.consent_proof(rt, principal, principal.workspace_id, visitor_id)


@router.get("/widget/consent")
async def widget_consent(principal: VisitorDep, rt: RuntimeDep) -> dict[str, Any]:
    """The active consent requests and the visitor's current decision on each, and the
    processings the visitor objected to (``objections``: engagement rules, surveys,
    enrichment; GDPR Art. 21), which the widget then neither runs nor shows."""
    assert principal.visitor_id is not None
    state = await consent.widget_state(rt, principal)
    return {**state, "objections": await limits.visitor_objections(rt, principal.visitor_id)}


@router.post("/widget/consent", status_code=201)
async def widget_decide(
    body: ConsentDecision, principal: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """Record a decision (granted, refused or withdrawn) on the text the widget showed."""
    return await consent.do_record_decision(
        rt,
        principal,
        purpose=body.purpose,
        version=body.version,
        text_hash=body.text_hash,
        decision=body.decision,
        conversation_id=body.conversation_id,
    )


@router.get("/widget/consent/proof")
async def widget_consent_proof(principal: VisitorDep, rt: RuntimeDep) -> dict[str, Any]:
    """The visitor's own signed proof."""
    assert principal.workspace_id is not None and principal.visitor_id is not None
    return await consent_proof.consent_proof(
        rt, principal, principal.workspace_id, principal.visitor_id
    )
