"""Exactly-once where no message row is kept: relayed messages (transcripts off) and provider
webhooks.

Why: a client that reconnects re-sends what was not acknowledged, and providers redeliver
webhooks they are unsure about. With transcripts on, ``uq_messages_client_id`` answers a retry
with the stored message. With transcripts off nothing is stored, so the newest
``RELAYED_CLIENT_IDS_KEPT`` client ids of each conversation are kept (ids and sequence numbers,
never text) to answer a retry as a duplicate. A provider's message id is remembered per channel
endpoint (``inbound_receipts``, as a keyed hash), so a webhook redelivered after its
conversation closed is not stored again in the thread's next conversation.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from confide.chat.models import AuthorKind, InboundReceipt, Message, RelayedClientId
from confide.runtime import Runtime

RELAYED_CLIENT_IDS_KEPT = 100


async def remember_relayed(session: AsyncSession, message: Message) -> None:
    """Record a relayed message's client id inside the sending transaction. A retry's insert
    fails on the primary key (``IntegrityError``), the transaction rolls back, and the sender
    looks the first one up with :func:`relayed_message`."""
    assert message.client_id is not None
    session.add(
        RelayedClientId(
            conversation_id=message.conversation_id,
            client_id=message.client_id,
            message_id=message.id,
            seq=message.seq,
            created_at=message.created_at,
        )
    )
    await session.flush()
    await session.execute(
        delete(RelayedClientId).where(
            RelayedClientId.conversation_id == message.conversation_id,
            RelayedClientId.seq <= message.seq - RELAYED_CLIENT_IDS_KEPT,
        )
    )


async def relayed_message(
    session: AsyncSession, conversation_id: uuid.UUID, client_id: str
) -> Message | None:
    """A transient ``Message`` for an earlier relayed send with ``client_id``, or ``None``."""
    row = await session.get(RelayedClientId, (conversation_id, client_id))
    if row is None:
        return None
    return Message(
        id=row.message_id,
        conversation_id=conversation_id,
        seq=row.seq,
        client_id=client_id,
        author_kind=AuthorKind.VISITOR,
        kind="text",
        created_at=row.created_at,
        redactions=None,
    )


def provider_message_key(rt: Runtime, message_id: str) -> str:
    """A keyed hash of a provider's message id (it may embed a phone number)."""
    return rt.secret.keyed_hash("inbound-message-id", message_id)


async def inbound_receipt(
    session: AsyncSession, endpoint_id: uuid.UUID, key: str
) -> InboundReceipt | None:
    return await session.get(InboundReceipt, (endpoint_id, key))


async def record_inbound(
    session: AsyncSession, endpoint_id: uuid.UUID, key: str, message: Message
) -> None:
    """Inside the transaction that accepts the message; a racing redelivery fails on the
    primary key and is answered from the first one's receipt."""
    session.add(
        InboundReceipt(
            endpoint_id=endpoint_id,
            provider_message_key=key,
            conversation_id=message.conversation_id,
            message_id=message.id,
            seq=message.seq,
        )
    )
    await session.flush()
