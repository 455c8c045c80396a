"""A copy of a finished chat, e-mailed to the visitor who asks for it.

Why this shape: the visitor asks at the end of the chat and types the address there; the
request is the reason to send (GDPR Art. 6(1)(b)), so no consent record is needed, and the
address is used for this one mail and stored nowhere (not in the vault, not in a job). So the
mail is sent within the request, and a visitor may ask a few times an hour at most.
Only stored transcripts can be sent: with transcripts off there is nothing to copy.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from confide.access.models import Workspace
from confide.access.policy import Principal
from confide.audit import ledger
from confide.chat import messages
from confide.chat.conversations import load_for
from confide.chat.models import ConversationStatus
from confide.chat.visitors import subject_of
from confide.core.errors import Conflict, TooManyRequests
from confide.core.mail import Mail, mail_enabled, send_mail
from confide.runtime import Runtime

TRANSCRIPT_MAILS_PER_HOUR = 3


async def do_email_transcript(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, address: str
) -> None:
    """Send the visitor's finished conversation to ``address``. Raises Conflict when mail is
    off, transcripts are not kept or the chat is still open; TooManyRequests past 3 an hour;
    MailFailed when the server refuses."""
    assert principal.visitor_id is not None and principal.workspace_id is not None
    if not mail_enabled(rt.settings):
        raise Conflict("This site sends no e-mail.", field="email")
    async with rt.db.session() as session:
        conversation = await load_for(session, principal, conversation_id)
        privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
        workspace = await session.get(Workspace, conversation.workspace_id)
    assert workspace is not None
    if not privacy.store_transcripts:
        raise Conflict("This chat was not recorded, so there is no copy to send.")
    if conversation.status is not ConversationStatus.CLOSED:
        raise Conflict("A copy is sent once the chat has ended.")
    wait = await rt.limiter.hit(
        f"transcript-mail:{principal.visitor_id}", TRANSCRIPT_MAILS_PER_HOUR, 3600
    )
    if wait:
        raise TooManyRequests(
            "Too many copies asked for; try again later.", headers={"Retry-After": str(wait)}
        )
    lines = [f"Your chat with {workspace.name}", ""]
    since = 0
    while True:
        page = await messages.list_messages(rt, principal, conversation_id, since=since)
        for item in page["messages"]:
            since = item["seq"]
            if item["kind"] != "text" or item["body"] is None:
                continue
            author = item["author"]
            who = (
                "You" if author.get("kind") == "visitor" else author.get("alias") or workspace.name
            )
            when = datetime.fromisoformat(item["created_at"])
            lines.append(f"[{when:%Y-%m-%d %H:%M} UTC] {who}:")
            lines.extend(["  " + line for line in str(item["body"]).splitlines()] or ["  "])
        if not page["has_more"]:
            break
    lines += ["", "You receive this copy because you asked for it at the end of the chat."]
    await send_mail(
        rt.settings,
        Mail(to=address, subject=f"Your chat with {workspace.name}", text="\n".join(lines)),
    )
    async with rt.db.session() as session:
        subject_id = await subject_of(session, principal.visitor_id)
    await ledger.record(
        rt,
        principal,
        "conversation.transcript_emailed",
        subject_id=subject_id,
        resource=f"conversation:{conversation_id}",
    )
