"""After an erasure returns, no node decrypts the subject's data: the key-destruction notice
travels through Redis and every node drops its cached copy (``confide.privacy.key_cache``)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest
from sqlalchemy import select

from confide.access.workspaces import do_create_workspace
from confide.chat.conversations import do_start_conversation
from confide.chat.messages import do_send_message
from confide.chat.visitors import authenticate_visitor_token, do_create_visitor
from confide.core.config import Settings
from confide.core.errors import KeyUnavailable
from confide.models import metadata
from confide.privacy.erasure import do_erase_subject
from confide.runtime import Runtime
from tests.conftest import REDIS_URL


@pytest.mark.redis
async def test_an_erasure_on_one_node_empties_the_key_cache_of_another(
    two_nodes: tuple[Runtime, Runtime],
) -> None:
    node_a, node_b = two_nodes
    await do_create_workspace(node_a, slug="nodes", name="Nodes")
    visitor = await do_create_visitor(node_a, "nodes")
    principal = await authenticate_visitor_token(node_a, visitor.token)
    started = await do_start_conversation(node_a, principal, visitor_id=visitor.visitor_id)
    conversation = started.conversation
    sent = await do_send_message(
        node_a, principal, conversation.id, client_id=uuid.uuid4().hex, body="A distinct phrase"
    )
    texts = metadata.tables["message_texts"]
    async with node_a.db.session() as session:
        sealed = await session.scalar(
            select(texts.c.body).where(texts.c.message_id == uuid.UUID(sent.message["id"]))
        )
    aad = f"message_texts:{sent.message['id']}"
    # Node A has the conversation's key cached (it just sealed and can open the copy).
    assert node_a.keyring.dek_cache_enabled
    assert await node_a.keyring.decrypt(None, conversation.id, sealed, aad, any_workspace=True)
    assert node_a.keyring._cached(f"dek:{conversation.id}") is not None

    erased_at = time.monotonic()
    await do_erase_subject(node_b, None, "visitor", visitor.visitor_id)
    while node_a.keyring._cached(f"dek:{conversation.id}") is not None:
        assert time.monotonic() - erased_at < 5, "node A kept the destroyed key"
        await asyncio.sleep(0.005)
    with pytest.raises(KeyUnavailable):  # a copy of the text (backup, dump) opens nowhere
        await node_a.keyring.decrypt(None, conversation.id, sealed, aad, any_workspace=True)


@pytest.mark.redis
async def test_a_node_caches_no_data_key_until_its_watcher_is_subscribed(
    settings: Settings, rt: Runtime
) -> None:
    node = Runtime.from_settings(settings.with_overrides(redis_url=REDIS_URL))
    try:
        assert not node.keyring.dek_cache_enabled  # it could miss another node's notice...
        await node.key_cache.start()
        assert node.keyring.dek_cache_enabled  # ...until it is subscribed
    finally:
        await node.close()
    assert not node.keyring.dek_cache_enabled  # closed: it could miss notices again


async def test_a_node_starts_without_caching_keys_when_redis_is_unreachable(
    settings: Settings, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confide.privacy import key_cache

    monkeypatch.setattr(key_cache, "SUBSCRIBE_WAIT_SECONDS", 0.2)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = Runtime.from_settings(settings.with_overrides(redis_url=f"redis://127.0.0.1:{port}/0"))
    try:
        await node.key_cache.start()
        assert not node.keyring.dek_cache_enabled
    finally:
        await node.close()
