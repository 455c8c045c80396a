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
is on), ``cobrowsing`` (agents guide navigation; its own prompt) and ``email`` (answers to a
message left while nobody was available are sent to the visitor's e-mail address).

The proof (``confide.privacy.consent_proof``) is self-contained: the decisions with the exact
texts shown, signed with the workspace's Ed25519 key (the audit ledger's, in the key store),
with the public key and a recipe to verify it without Confide (``verify_proof`` does exactly
that).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.audit.chain import iso_time
from confide.audit.ledger import append
from confide.chat import events
from confide.chat.models import Conversation, Visitor
from confide.core.clock import utcnow
from confide.core.errors import Conflict, ConsentRequired, ValidationFailed
from confide.privacy import consent_wording
from confide.privacy import settings as privacy_settings
from confide.privacy.models import ConsentRecord, ConsentRequest
from confide.privacy.settings_cache import settings_changed

if TYPE_CHECKING:
    from confide.runtime import Runtime

PURPOSES = ("chat", "preview", "mirroring", "cobrowsing", "email")
DECISIONS = ("granted", "refused", "withdrawn")
# Co-browsing hands the page to an agent: each start, refusal and stop is also audited.
COBROWSE_AUDIT_ACTIONS = {
    "granted": "cobrowse.start",
    "refused": "cobrowse.refuse",
    "withdrawn": "cobrowse.stop",
}


def for_language(requests: list[dict[str, Any]], language: str) -> dict[str, dict[str, Any]]:
    """Per purpose, the active request a visitor of ``language`` sees: its own language, else
    its primary subtag's (``fr`` for ``fr-ca``), else the default text (no language)."""
    primary = language.split("-")[0]
    rank = {language: 0, primary: 1, None: 2}
    chosen: dict[str, dict[str, Any]] = {}
    for request in requests:
        if request["superseded_at"] is not None or request["language"] not in rank:
            continue
        current = chosen.get(request["purpose"])
        if current is None or rank[request["language"]] < rank[current["language"]]:
            chosen[request["purpose"]] = request
    return chosen


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "The purpose is one of 'chat', 'preview', 'mirroring', 'cobrowsing', 'email'.",
            field="purpose",
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
        "language": request.language,
    }


# -- requests (the workspace's side) -----------------------------------------------------------


async def do_publish_request(
    rt: Runtime,
    principal: Principal,
    purpose: str,
    *,
    version: str,
    text: str,
    store_transcripts: bool | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Make ``version`` the purpose's active request. Publishing the same version with the same
    text again changes nothing; the same version with another text is refused (a changed text
    is a new version, so every decision keeps pointing at what was actually shown).

    A ``chat`` text must agree with whether transcripts are kept
    (:mod:`confide.privacy.consent_wording`, else ValidationFailed on ``text``);
    ``store_transcripts`` switches that setting in the same transaction, so a workspace moves
    from one true text to the next without a moment where the text and the setting disagree.
    Every node drops its cached settings after the commit (``settings_changed``).

    ``language`` (a tag like ``"de"``) publishes the text visitors of that language see; it
    supersedes only that language's active version. None: the default text, shown in every
    language without one of its own."""
    assert principal.workspace_id is not None
    _check_purpose(purpose)
    if store_transcripts is not None and purpose != "chat":
        raise ValidationFailed(
            "store_transcripts goes only with the 'chat' text.", field="store_transcripts"
        )
    digest = text_hash(text)
    try:
        async with rt.db.transaction() as session:
            if purpose == "chat":  # the text must say what the workspace does with the chat
                privacy = await privacy_settings.load(session, principal.workspace_id)
                consent_wording.check_chat_text(
                    text,
                    store_transcripts=privacy.store_transcripts
                    if store_transcripts is None
                    else store_transcripts,
                )
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
                await _switch_transcripts(session, principal.workspace_id, store_transcripts)
                if store_transcripts is not None:
                    session.on_commit(settings_changed, rt, principal.workspace_id)
                    await append(
                        session,
                        rt,
                        principal,
                        "workspace.settings",
                        resource=f"workspace:{principal.workspace_id}",
                        details={"store_transcripts": store_transcripts},
                    )
                return _render_request(existing)
            now = utcnow()
            for active in await _active(session, principal.workspace_id, purpose, lock=True):
                if active.language == language:
                    active.superseded_at = now
            request = ConsentRequest(
                workspace_id=principal.workspace_id,
                purpose=purpose,
                version=version,
                text=text,
                text_hash=digest,
                created_by=principal.operator_id,
                created_at=now,
                language=language,
            )
            session.add(request)
            await session.flush()
            await _switch_transcripts(session, principal.workspace_id, store_transcripts)
            details: dict[str, Any] = {"purpose": purpose, "version": version, "text_hash": digest}
            if store_transcripts is not None:
                details["store_transcripts"] = store_transcripts
                session.on_commit(settings_changed, rt, principal.workspace_id)
            await append(
                session,
                rt,
                principal,
                "consent.request_publish",
                resource=f"consent_request:{request.id}",
                details=details,
            )
            return _render_request(request)
    except IntegrityError as exc:
        raise Conflict("Another admin published this version at the same time.") from exc


async def _switch_transcripts(
    session: AsyncSession, workspace_id: uuid.UUID, store_transcripts: bool | None
) -> None:
    if store_transcripts is None:
        return
    # Translations that no longer tell the truth are withdrawn: their visitors see the default
    # text until a new translation is published. (A default text that disagrees is refused.)
    now = utcnow()
    for active in await _active(session, workspace_id, "chat", lock=True):
        if active.language is None:
            continue
        try:
            consent_wording.check_chat_text(active.text, store_transcripts=store_transcripts)
        except ValidationFailed:
            active.superseded_at = now
    await privacy_settings.apply(session, workspace_id, {"store_transcripts": store_transcripts})


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
    request the workspace published: a decision about a text nobody was shown proves nothing.
    A ``cobrowsing`` decision is also audited (``COBROWSE_AUDIT_ACTIONS``), in the same
    transaction: no start or stop of co-browsing without its record."""
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


# -- proof ---------------------------------------------------------------------------------------
