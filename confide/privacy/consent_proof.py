"""Consent proofs: every decision of a visitor with the exact text shown, signed.

The proof is self-contained: the decisions with the exact texts shown, signed with the
workspace's Ed25519 key (the audit ledger's, in the key store), with the public key and the
recipe to check it, so anyone can verify it without Confide (seed 000: "collects proof of the
Visitor's consent and can provide it upon request"). Decisions are recorded in
``confide.privacy.consent``.
"""

from __future__ import annotations

import base64
import uuid
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.audit.chain import iso_time
from confide.audit.checkpoints import workspace_signing_key
from confide.audit.ledger import append
from confide.chat.models import Visitor
from confide.core.clock import utcnow
from confide.core.errors import NotFound
from confide.crypto.signing import canonical_json
from confide.privacy.consent import has_grant, render_record
from confide.privacy.consent_requests import PURPOSES, text_hash
from confide.privacy.models import ConsentRecord, ConsentRequest

if TYPE_CHECKING:
    from confide.runtime import Runtime

PROOF_FORMAT = "confide-consent-proof/1"
VERIFICATION_RECIPE = (
    "1. Serialise `proof` as JSON with keys sorted, separators ',' and ':', no whitespace and "
    "non-ASCII characters escaped (Python: json.dumps(proof, sort_keys=True, "
    "separators=(',', ':'), ensure_ascii=True)), encoded as UTF-8. "
    "2. Verify `signature` (base64) over those bytes with the Ed25519 public key `public_key` "
    "(base64 of the raw 32 bytes), e.g. cryptography's Ed25519PublicKey.verify. "
    "3. For each record, SHA-256 of `text` (UTF-8, hex) must equal `text_hash`. "
    "4. Compare `public_key` with the workspace's published key (audit checkpoints carry it)."
)


async def find_visitor(rt: Runtime, workspace_id: uuid.UUID, vuid: str) -> uuid.UUID:
    async with rt.db.session() as session:
        visitor_id = await session.scalar(
            select(Visitor.id).where(Visitor.workspace_id == workspace_id, Visitor.vuid == vuid)
        )
    if visitor_id is None:
        raise NotFound("No visitor with that VUID in this workspace.", field="vuid")
    return visitor_id


async def consent_proof(
    rt: Runtime, principal: Principal, workspace_id: uuid.UUID, visitor_id: uuid.UUID
) -> dict[str, Any]:
    """Every decision of the visitor with the exact text shown, signed. A read by anyone but
    the visitor is recorded (``consent.proof_read``) in the same unit, before it is returned."""
    async with rt.db.transaction() as session:
        visitor = await session.get(Visitor, visitor_id)
        if visitor is None or visitor.workspace_id != workspace_id:
            raise NotFound("No such visitor in this workspace.", field="vuid")
        if principal.kind != "visitor":
            await append(
                session,
                rt,
                principal,
                "consent.proof_read",
                subject_id=visitor.subject_id,
                resource=f"visitor:{visitor_id}",
            )
        return await signed_proof(rt, session, visitor)


async def signed_proof(rt: Runtime, session: AsyncSession, visitor: Visitor) -> dict[str, Any]:
    """The signed proof of ``visitor``'s decisions, read in ``session``. Records nothing: the
    caller's act is recorded by the caller (``consent_proof``; a subject export records one
    ``subject.export`` for everything it contains)."""
    workspace_id = visitor.workspace_id
    rows = (
        await session.execute(
            select(ConsentRecord, ConsentRequest)
            .join(ConsentRequest, ConsentRequest.id == ConsentRecord.request_id)
            .where(ConsentRecord.visitor_id == visitor.id)
            .order_by(ConsentRecord.decided_at)
        )
    ).all()
    records = [render_record(record, request) for record, request in rows]
    current = {
        purpose: await has_grant(session, workspace_id, visitor.id, purpose) for purpose in PURPOSES
    }
    proof = {
        "purpose": "confide-consent-proof",
        "v": 1,
        "workspace_id": str(workspace_id),
        "visitor": {"id": str(visitor.id), "vuid": visitor.vuid},
        "issued_at": iso_time(utcnow()),
        "records": records,
        "current_grants": current,
    }
    key = await workspace_signing_key(rt, workspace_id)
    return {
        "format": PROOF_FORMAT,
        "proof": proof,
        "algorithm": "Ed25519",
        "signature": base64.b64encode(key.sign(canonical_json(proof))).decode(),
        "public_key": base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        "verification": VERIFICATION_RECIPE,
    }


def verify_proof(document: dict[str, Any]) -> bool:
    """Check a proof as its recipe says, with no secret and no database."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(document["public_key"]))
        key.verify(base64.b64decode(document["signature"]), canonical_json(document["proof"]))
        records = document["proof"]["records"]
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return all(text_hash(r["text"]) == r["text_hash"] for r in records)
