"""The consent ledger: what each visitor was asked, what they decided, and a proof of it.

Why a ledger: consent must be demonstrable (GDPR Art. 7(1)) and as easy to withdraw as to give
(Art. 7(3)). So a workspace's consent *requests* are versioned and never edited (a new text is
a new version; the older ones stay, with the SHA-256 of their exact text), and a visitor's
*decisions* are appended to ``consent_records``, never updated, each pointing at the exact
request version it answered. The current state of a purpose is the visitor's latest decision,
and it counts as a grant only if it grants the purpose's *active* version: publishing a new
text asks everyone again. Checks read the database every time, so a withdrawal is honoured by
the very next message or frame, on every node.

Purposes: ``chat`` (storing the conversation, when the workspace sets ``consent_required``),
``preview`` (agents see text while it is typed), ``mirroring`` (agents see the page the visitor
is on) and ``cobrowsing`` (agents guide navigation; its own prompt).

The proof (:func:`consent_proof`) is self-contained: the decisions with the exact texts shown,
signed with the workspace's Ed25519 key (the audit ledger's, in the key store), with the public
key and a recipe to verify it without Confide (:func:`verify_proof` does exactly that).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.audit.chain import iso_time
from confide.audit.checkpoints import workspace_signing_key
from confide.audit.ledger import append
from confide.chat import events
from confide.chat.models import Conversation, Visitor
from confide.core.clock import utcnow
from confide.core.errors import Conflict, ConsentRequired, NotFound, ValidationFailed
from confide.crypto.signing import canonical_json
from confide.privacy import settings as privacy_settings
from confide.privacy.models import ConsentRecord, ConsentRequest

if TYPE_CHECKING:
    from confide.runtime import Runtime

PURPOSES = ("chat", "preview", "mirroring", "cobrowsing")
DECISIONS = ("granted", "refused", "withdrawn")
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


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "The purpose is one of 'chat', 'preview', 'mirroring', 'cobrowsing'.", field="purpose"
        )
    return purpose


def _render_request(request: ConsentRequest) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "purpose": request.purpose,
        "version": request.version,
        "text": request.text,
        "text_hash": request.text_hash,
        "created_at": iso_time(request.created_at),
        "superseded_at": iso_time(request.superseded_at) if request.superseded_at else None,
    }


# -- requests (the workspace's side) -----------------------------------------------------------


async def do_publish_request(
    rt: Runtime, principal: Principal, purpose: str, *, version: str, text: str
) -> dict[str, Any]:
    """Make ``version`` the purpose's active request. Publishing the same version with the same
    text again changes nothing; the same version with another text is refused (a changed text
    is a new version, so every decision keeps pointing at what was actually shown)."""
    assert principal.workspace_id is not None
    _check_purpose(purpose)
    digest = text_hash(text)
    try:
        async with rt.db.transaction() as session:
            # uq_consent_requests_workspace_version
            existing = await session.scalar(
                select(ConsentRequest).where(
                    ConsentRequest.workspace_id == principal.workspace_id,
                    ConsentRequest.purpose == purpose,
                    ConsentRequest.version == version,
                )
            )
            if existing is not None:
                if existing.text_hash != digest:
                    raise Conflict(
                        "This version was published with another text; publish the new text "
                        "under a new version.",
                        field="version",
                    )
                return _render_request(existing)
            now = utcnow()
            for active in await _active(session, principal.workspace_id, purpose, lock=True):
                active.superseded_at = now
            request = ConsentRequest(
                workspace_id=principal.workspace_id,
                purpose=purpose,
                version=version,
                text=text,
                text_hash=digest,
                created_by=principal.operator_id,
                created_at=now,
            )
            session.add(request)
            await session.flush()
            await append(
                session,
                rt,
                principal,
                "consent.request_publish",
                resource=f"consent_request:{request.id}",
                details={"purpose": purpose, "version": version, "text_hash": digest},
            )
            return _render_request(request)
    except IntegrityError as exc:
        raise Conflict("Another admin published this version at the same time.") from exc


async def _active(
    session: AsyncSession, workspace_id: uuid.UUID, purpose: str | None = None, lock: bool = False
) -> list[ConsentRequest]:
    query = select(ConsentRequest).where(
        ConsentRequest.workspace_id == workspace_id, ConsentRequest.superseded_at.is_(None)
    )
    if purpose is not None:
        query = query.where(ConsentRequest.purpose == purpose)
    if lock:
        query = query.with_for_update()
    return list((await session.scalars(query.order_by(ConsentRequest.purpose))).all())


async def list_requests(rt: Runtime, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every version of every purpose, the active ones included (``superseded_at`` null)."""
    async with rt.db.session() as session:
        rows = (
            await session.scalars(
                select(ConsentRequest)
                .where(ConsentRequest.workspace_id == workspace_id)
                .order_by(ConsentRequest.purpose, ConsentRequest.created_at)
            )
        ).all()
    return [_render_request(r) for r in rows]


# -- decisions (the visitor's side) ------------------------------------------------------------


async def _latest(
    session: AsyncSession, visitor_id: uuid.UUID, purpose: str
) -> ConsentRecord | None:
    # ix_consent_records_current
    result: ConsentRecord | None = await session.scalar(
        select(ConsentRecord)
        .where(ConsentRecord.visitor_id == visitor_id, ConsentRecord.purpose == purpose)
        .order_by(ConsentRecord.decided_at.desc())
        .limit(1)
    )
    return result


async def has_grant(
    session: AsyncSession, workspace_id: uuid.UUID, visitor_id: uuid.UUID, purpose: str
) -> bool:
    """Whether the visitor's latest decision for ``purpose`` grants its active version."""
    latest = await _latest(session, visitor_id, purpose)
    if latest is None or latest.decision != "granted" or latest.workspace_id != workspace_id:
        return False
    request = await session.get(ConsentRequest, latest.request_id)
    return request is not None and request.superseded_at is None


async def require(session: AsyncSession, principal: Principal, purpose: str) -> None:
    """Raise ``ConsentRequired`` unless the visitor currently grants ``purpose``."""
    assert principal.workspace_id is not None and principal.visitor_id is not None
    if not await has_grant(session, principal.workspace_id, principal.visitor_id, purpose):
        raise ConsentRequired(field=purpose)


async def require_for_storage(
    rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID, visitor_id: uuid.UUID
) -> None:
    """The one gate before personal data of a visitor is stored (their messages on every
    channel, a CSAT comment, identity and attributes): when the workspace requires consent,
    raise ``ConsentRequired`` (403) unless the visitor grants ``chat`` now (GDPR Art. 6(1)(a),
    7(3): a withdrawal stops storage at once). The caller's unit then rolls back whole."""
    if (await rt.privacy_cache.load(session, workspace_id)).consent_required:
        if not await has_grant(session, workspace_id, visitor_id, "chat"):
            raise ConsentRequired(field="chat")


async def visitor_grants(
    rt: Runtime, workspace_id: uuid.UUID, visitor_id: uuid.UUID, purpose: str
) -> bool:
    async with rt.db.session() as session:
        return await has_grant(session, workspace_id, visitor_id, purpose)


async def widget_state(rt: Runtime, principal: Principal) -> dict[str, Any]:
    """What the widget shows: the active requests and the visitor's current decision on each."""
    assert principal.workspace_id is not None and principal.visitor_id is not None
    async with rt.db.session() as session:
        privacy = await privacy_settings.load(session, principal.workspace_id)
        requests = []
        for request in await _active(session, principal.workspace_id):
            latest = await _latest(session, principal.visitor_id, request.purpose)
            current = latest.decision if latest and latest.request_id == request.id else None
            requests.append({**_render_request(request), "decision": current})
    return {"consent_required": privacy.consent_required, "requests": requests}


async def do_record_decision(
    rt: Runtime,
    principal: Principal,
    *,
    purpose: str,
    version: str,
    text_hash: str,
    decision: str,
    conversation_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Append one decision of the visitor to the ledger. The version and text hash must name a
    request the workspace published: a decision about a text nobody was shown proves nothing."""
    assert principal.workspace_id is not None and principal.visitor_id is not None
    _check_purpose(purpose)
    if decision not in DECISIONS:
        raise ValidationFailed("decision is 'granted', 'refused' or 'withdrawn'.", field="decision")
    async with rt.db.transaction() as session:
        # uq_consent_requests_workspace_version
        request = await session.scalar(
            select(ConsentRequest).where(
                ConsentRequest.workspace_id == principal.workspace_id,
                ConsentRequest.purpose == purpose,
                ConsentRequest.version == version,
            )
        )
        if request is None:
            raise ValidationFailed("No consent request has this version.", field="version")
        if request.text_hash != text_hash:
            raise ValidationFailed(
                "text_hash is not the SHA-256 of the text published as this version; show the "
                "current request and send its hash.",
                field="text_hash",
            )
        if conversation_id is not None:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or conversation.visitor_id != principal.visitor_id:
                raise ValidationFailed("No such conversation of yours.", field="conversation_id")
        latest = await _latest(session, principal.visitor_id, purpose)
        now = utcnow()
        if latest is not None and latest.decided_at >= now:
            now = latest.decided_at + timedelta(microseconds=1)  # keep "latest" unambiguous
        record = ConsentRecord(
            workspace_id=principal.workspace_id,
            visitor_id=principal.visitor_id,
            request_id=request.id,
            purpose=purpose,
            version=version,
            text_hash=text_hash,
            decision=decision,
            conversation_id=conversation_id,
            decided_at=now,
        )
        session.add(record)
        await session.flush()
        rendered = _render_record(record, request)
        if conversation_id is not None:
            # Consoles learn at once that, e.g., co-browsing consent was withdrawn.
            events.publish(
                session,
                rt.broker,
                events.conversation_channel(conversation_id),
                {
                    "type": "consent",
                    "conversation_id": str(conversation_id),
                    "author": {"kind": "visitor", "id": str(principal.visitor_id)},
                    "purpose": purpose,
                    "decision": decision,
                },
            )
    return rendered


def _render_record(record: ConsentRecord, request: ConsentRequest) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "purpose": record.purpose,
        "version": record.version,
        "request_id": str(record.request_id),
        "text": request.text,
        "text_hash": record.text_hash,
        "decision": record.decision,
        "conversation_id": str(record.conversation_id) if record.conversation_id else None,
        "decided_at": iso_time(record.decided_at),
    }


# -- proof ---------------------------------------------------------------------------------------


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
        rows = (
            await session.execute(
                select(ConsentRecord, ConsentRequest)
                .join(ConsentRequest, ConsentRequest.id == ConsentRecord.request_id)
                .where(ConsentRecord.visitor_id == visitor_id)
                .order_by(ConsentRecord.decided_at)
            )
        ).all()
        records = [_render_record(record, request) for record, request in rows]
        current = {
            purpose: await has_grant(session, workspace_id, visitor_id, purpose)
            for purpose in PURPOSES
        }
    proof = {
        "purpose": "confide-consent-proof",
        "v": 1,
        "workspace_id": str(workspace_id),
        "visitor": {"id": str(visitor_id), "vuid": visitor.vuid},
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
