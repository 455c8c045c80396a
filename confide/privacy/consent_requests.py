"""The workspace's side of the consent ledger: the versioned texts visitors are asked.

Why apart from ``confide.privacy.consent`` (the visitors' decisions): publishing changes with
what a text may say and the transcripts and retention settings it must agree with
(``confide.privacy.consent_wording``), the decisions with what counts as a grant. A request is
never edited: a new text is a new version, the older ones stay with the SHA-256 of their exact
text (``text_hash``), and a new version supersedes the active one of its own language only.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.audit.chain import iso_time
from confide.audit.ledger import append
from confide.core.clock import utcnow
from confide.core.errors import Conflict, ValidationFailed
from confide.privacy import consent_wording
from confide.privacy import settings as privacy_settings
from confide.privacy.models import ConsentRequest
from confide.privacy.settings_cache import settings_changed

if TYPE_CHECKING:
    from confide.runtime import Runtime

PURPOSES = ("chat", "preview", "mirroring", "cobrowsing", "email")


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


def check_purpose(purpose: str) -> str:
    """``purpose``, or ValidationFailed (field ``purpose``) if it is not one of ``PURPOSES``."""
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "The purpose is one of 'chat', 'preview', 'mirroring', 'cobrowsing', 'email'.",
            field="purpose",
        )
    return purpose


def render_request(request: ConsentRequest) -> dict[str, Any]:
    """A request as the API, the console and the widget show it."""
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

    A ``chat`` text must agree with whether transcripts are kept and name only periods the
    web channel's retention keeps a chat (:mod:`confide.privacy.consent_wording`, else
    ValidationFailed on ``text``);
    ``store_transcripts`` switches that setting in the same transaction, so a workspace moves
    from one true text to the next without a moment where the text and the setting disagree.
    Every node drops its cached settings after the commit (``settings_changed``).

    ``language`` (a tag like ``"de"``) publishes the text visitors of that language see; it
    supersedes only that language's active version. None: the default text, shown in every
    language without one of its own."""
    assert principal.workspace_id is not None
    check_purpose(purpose)
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
                    retention=privacy_settings.web_chat_retention(privacy),
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
                return render_request(existing)
            now = utcnow()
            for active in await active_requests(
                session, principal.workspace_id, purpose, lock=True
            ):
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
            return render_request(request)
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
    for active in await active_requests(session, workspace_id, "chat", lock=True):
        if active.language is None:
            continue
        try:
            consent_wording.check_chat_text(active.text, store_transcripts=store_transcripts)
        except ValidationFailed:
            active.superseded_at = now
    await privacy_settings.apply(session, workspace_id, {"store_transcripts": store_transcripts})


async def active_requests(
    session: AsyncSession, workspace_id: uuid.UUID, purpose: str | None = None, lock: bool = False
) -> list[ConsentRequest]:
    """The workspace's active requests (not superseded), of ``purpose`` or all, in purpose
    order; ``lock``: ``FOR UPDATE``, for a unit that supersedes some of them."""
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
    return [render_request(r) for r in rows]
