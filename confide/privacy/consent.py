"""The consent ledger: what each visitor was asked, what they decided, and a proof of it.

Why a ledger: consent must be demonstrable (GDPR Art. 7(1)) and as easy to withdraw as to give
(Art. 7(3)). So a workspace's consent *requests* are versioned and never edited (a new text is
a new version; the older ones stay, with the SHA-256 of their exact text:
``confide.privacy.consent_requests``), and a visitor's *decisions* are appended to
``consent_records``, never updated, each pointing at the exact request version it answered.
The current state of a purpose is the visitor's latest decision, and it counts as a grant only
if it grants the purpose's *active* version: publishing a new text asks everyone again. Checks
read the database every time, so a withdrawal is honoured by the very next message or frame,
on every node.

Purposes: ``chat`` (storing the conversation, when the workspace sets ``consent_required``),
``preview`` (agents see text while it is typed), ``mirroring`` (agents see the page the visitor
is on), ``cobrowsing`` (agents guide navigation; its own prompt) and ``email`` (answers to a
message left while nobody was available are sent to the visitor's e-mail address).

The proof (``confide.privacy.consent_proof``) is self-contained: the decisions with the exact
texts shown, signed with the workspace's Ed25519 key (the audit ledger's, in the key store),
with the public key and a recipe to verify it without Confide (``verify_proof`` does exactly
that).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.audit.chain import iso_time
from confide.audit.ledger import append
from confide.chat import events
from confide.chat.models import Conversation, Visitor
from confide.core.clock import utcnow
from confide.core.errors import Conflict, ConsentRequired, ValidationFailed
from confide.core.hot_statements import HotStatement
from confide.privacy import settings as privacy_settings
from confide.privacy.consent_requests import active_requests, check_purpose, render_request
from confide.privacy.models import ConsentRecord, ConsentRequest

if TYPE_CHECKING:
    from confide.runtime import Runtime

DECISIONS = ("granted", "refused", "withdrawn")
# Co-browsing hands the page to an agent: each start, refusal and stop is also audited.
COBROWSE_AUDIT_ACTIONS = {
    "granted": "cobrowse.start",
    "refused": "cobrowse.refuse",
    "withdrawn": "cobrowse.stop",
}


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


def latest_decision(
    visitor_id: Any, purpose: Any
) -> Select[str, uuid.UUID, uuid.UUID, datetime | None]:
    """The visitor's latest decision for a purpose and the request version it answered: one
    row (``decision``, ``workspace_id``, ``request_id``, ``superseded_at``) or none. The
    arguments are SQL values: bound parameters, or a column of an enclosing statement (read
    laterally, both purposes in one trip, by the message path on PostgreSQL:
    ``confide.chat.batched_send.DECISIONS``)."""
    return (
        select(
            ConsentRecord.decision,
            ConsentRecord.workspace_id,
            ConsentRequest.id.label("request_id"),
            ConsentRequest.superseded_at,
        )
        .outerjoin(ConsentRequest, ConsentRequest.id == ConsentRecord.request_id)
        .where(
            ConsentRecord.visitor_id == visitor_id,
            ConsentRecord.purpose == purpose,
        )  # ix_consent_records_current
        .order_by(ConsentRecord.decided_at.desc())
        .limit(1)
    )


# latest_decision as one statement: has_grant here, and the message path's write programs
# (confide.chat.batched_send).
LATEST_DECISION = HotStatement(latest_decision(bindparam("visitor_id"), bindparam("purpose")))


def grants(latest: Any, workspace_id: uuid.UUID) -> bool:
    """Whether a row of :data:`LATEST_DECISION` (or None: no decision) grants the purpose's
    active version in ``workspace_id`` (GDPR Art. 7(3): a withdrawal or a newer text ends it)."""
    return (
        latest is not None
        and latest.decision == "granted"
        and latest.workspace_id == workspace_id
        and latest.request_id is not None
        and latest.superseded_at is None
    )


async def has_grant(
    session: AsyncSession, workspace_id: uuid.UUID, visitor_id: uuid.UUID, purpose: str
) -> bool:
    """Whether the visitor's latest decision for ``purpose`` grants its active version."""
    result = await session.execute(
        LATEST_DECISION.statement, {"visitor_id": visitor_id, "purpose": purpose}
    )
    return grants(result.first(), workspace_id)


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
        for request in await active_requests(session, principal.workspace_id):
            latest = await _latest(session, principal.visitor_id, request.purpose)
            current = latest.decision if latest and latest.request_id == request.id else None
            requests.append({**render_request(request), "decision": current})
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
    request the workspace published: a decision about a text nobody was shown proves nothing.
    A ``cobrowsing`` decision is also audited (``COBROWSE_AUDIT_ACTIONS``), in the same
    transaction: no start or stop of co-browsing without its record."""
    assert principal.workspace_id is not None and principal.visitor_id is not None
    check_purpose(purpose)
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
        if decision == "granted" and request.superseded_at is not None:
            # Consent to a text that is no longer shown would prove nothing about the current
            # one (GDPR Art. 7(1)): the widget must show the current text and ask again.
            raise Conflict(
                "This consent text was replaced by a newer version; show the current text and "
                "ask again.",
                field="version",
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
        if purpose == "cobrowsing":
            await append(
                session,
                rt,
                principal,
                COBROWSE_AUDIT_ACTIONS[decision],
                subject_id=await session.scalar(
                    select(Visitor.subject_id).where(Visitor.id == principal.visitor_id)
                ),
                resource=f"conversation:{conversation_id}"
                if conversation_id
                else f"visitor:{principal.visitor_id}",
                details={"version": version},
            )
        rendered = render_record(record, request)
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


def render_record(record: ConsentRecord, request: ConsentRequest) -> dict[str, Any]:
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
