"""Answers by e-mail to a message left while nobody was available.

Why this shape: the visitor who finds nobody there may leave an e-mail address for the answer,
with its own consent purpose (``email`` in the consent ledger, GDPR Art. 6(1)(a), 7). The
conversation waits in its group's queue like any other. When an operator answers a web chat
whose visitor *currently* grants ``email``, the transaction that stores the answer also queues
a ``send_reply_email`` job (ids only in its payload); the worker reads the address and the
text from the vault at send time, so a withdrawal or an erasure before the send stops it, and
nothing is ever e-mailed without that consent. Texts come from the vault, so this needs
transcripts on: with transcripts off there is nothing to send later, and the widget does not
offer it.

The mail carries a signed, expiring link (``reopen_link_ttl_seconds``) to ``/chat/<workspace>``
with the token in the URL *fragment*, which browsers never send to a server, so it stays out
of access logs; the widget trades it for a visitor token (``POST /widget/{workspace}/reopen``)
and shows the conversation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from confide import audit
from confide.access.models import Workspace
from confide.access.workspaces import find_workspace_by_slug
from confide.audit.ledger import Actor
from confide.chat.models import Channel, Conversation, Message, Visitor
from confide.chat.routing import agent_card
from confide.core.errors import InvalidToken, NotFound
from confide.core.mail import Mail, mail_enabled, send_mail
from confide.jobs.kinds import Batch, BatchResult, JobKind, register
from confide.jobs.queue import enqueue_in
from confide.privacy import consent
from confide.runtime import Runtime

SEND_REPLY_EMAIL = "send_reply_email"


async def queue_reply_email(
    rt: Runtime, session: AsyncSession, conversation: Conversation, message: Message
) -> bool:
    """Inside the transaction that stores an operator's answer: queue its e-mail when the
    visitor currently grants ``email``. Returns whether a job was queued."""
    if conversation.channel is not Channel.WEB or not mail_enabled(rt.settings):
        return False
    if not await consent.has_grant(
        session, conversation.workspace_id, conversation.visitor_id, "email"
    ):
        return False
    queued = await enqueue_in(
        session,
        SEND_REPLY_EMAIL,
        payload={"message_id": str(message.id)},
        dedupe_key=f"reply-email:{message.id}",
    )
    return queued is not None


def reopen_url(rt: Runtime, workspace_slug: str, token: str) -> str:
    """The link in the mail: the token in the fragment, which browsers never send."""
    base = (rt.settings.public_url or f"http://{rt.settings.host}:{rt.settings.port}").rstrip("/")
    return f"{base}/chat/{workspace_slug}#confide-reopen={token}"


async def send_reply_email(rt: Runtime, message_id: uuid.UUID) -> bool:
    """Send one answer to the visitor's address; False (and nothing sent) when the consent was
    withdrawn, the address or the text is gone (erased), or the message no longer exists.
    Raises MailFailed for the job to retry."""
    async with rt.db.session() as session:
        message = await session.get(Message, message_id)
        if message is None:
            return False
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None
        if not await consent.has_grant(
            session, conversation.workspace_id, conversation.visitor_id, "email"
        ):
            return False
        visitor = await session.get(Visitor, conversation.visitor_id)
        workspace = await session.get(Workspace, conversation.workspace_id)
        assert visitor is not None and workspace is not None
        fields = await rt.vault.read_fields(session, [visitor.subject_id], ["email"])
        texts = await rt.vault.read_message_texts(session, [message.id])
        card = await agent_card(rt, session, message.author_operator_id)
    address = fields.get(visitor.subject_id, {}).get("email")
    body = texts.get(message.id)
    if not address or body is None:
        return False
    token, expires = rt.tokens.issue_reopen_token(
        conversation.id, visitor.id, rt.settings.reopen_link_ttl_seconds
    )
    author = (card or {}).get("alias") or workspace.name
    await send_mail(
        rt.settings,
        Mail(
            to=address,
            subject=f"{workspace.name} answered your message",
            text=_reply_text(
                workspace.name, author, body, reopen_url(rt, workspace.slug, token), expires
            ),
        ),
    )
    # The address and the text were read from the vault: a read of personal data, audited.
    await audit.record(
        rt,
        Actor("system", None, conversation.workspace_id),
        "conversation.answer_emailed",
        subject_id=visitor.subject_id,
        resource=f"conversation:{conversation.id}",
        details={"message_id": str(message.id)},
    )
    return True


def _reply_text(workspace: str, author: str, body: str, link: str, expires: datetime) -> str:
    return (
        f"{author} ({workspace}) wrote:\n\n{body}\n\n"
        f"Continue the conversation: {link}\n"
        f"(This link works until {expires:%Y-%m-%d %H:%M} UTC.)\n\n"
        f"You receive this e-mail because you asked {workspace} to answer your message by "
        "e-mail. To stop, withdraw that choice in the chat window."
    )


async def do_reopen_from_link(rt: Runtime, workspace_slug: str, token: str) -> dict[str, Any]:
    """Trade a link token for a visitor token and the conversation it names. Raises
    InvalidToken (forged, altered, expired, or another workspace's)."""
    if await find_workspace_by_slug(rt, workspace_slug) is None:
        raise NotFound("No workspace with that id.", field="workspace")
    conversation_id, visitor_id = rt.tokens.read_reopen_token(token)
    async with rt.db.session() as session:
        conversation = await session.get(Conversation, conversation_id)
        visitor = await session.get(Visitor, visitor_id)
        workspace = (
            await session.get(Workspace, conversation.workspace_id) if conversation else None
        )
    if (
        conversation is None
        or visitor is None
        or workspace is None
        or workspace.slug != workspace_slug
        or conversation.visitor_id != visitor.id
    ):
        raise InvalidToken("This link is not valid for this chat.")
    if visitor.workspace_id != workspace.id:
        raise NotFound()
    return {
        "vuid": visitor.vuid,
        "token": rt.tokens.issue_visitor_token(visitor.id, workspace.id),
        "conversation_id": str(conversation.id),
        "status": conversation.status.value,
    }


async def _run_send_reply_email(batch: Batch) -> BatchResult:
    # SMTP is I/O outside the database: no transaction held while the mail server answers. A
    # MailFailed fails the attempt and the job is retried with backoff.
    sent = await send_reply_email(batch.rt, uuid.UUID(str(batch.payload["message_id"])))
    return BatchResult(items=int(sent), cursor=None, done=True)


SEND_REPLY_EMAIL_KIND = register(
    JobKind(
        name=SEND_REPLY_EMAIL,
        description="E-mail an operator's answer to a visitor who asked for it (consent 'email').",
        run_batch=_run_send_reply_email,
        batch_size=1,
        max_attempts=5,
        payload_keys=frozenset({"message_id"}),
        in_transaction=False,
    )
)
