"""The per-process cache of privacy settings never lets a change go unnoticed: on the node that
made it at once, on another node as soon as the broker delivers the invalidation."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from confide.access.policy import Principal
from confide.access.workspaces import do_create_workspace, do_update_workspace_settings
from confide.chat.conversations import do_start_conversation
from confide.chat.messages import do_send_message
from confide.chat.visitors import authenticate_visitor_token, do_create_visitor
from confide.runtime import Runtime

PHONE_TEXT = "Call me on +33 6 12 34 56 78 please"


async def _chat(rt: Runtime, slug: str) -> tuple[uuid.UUID, Principal, uuid.UUID]:
    workspace = await do_create_workspace(rt, slug=slug, name="Cache")
    visitor = await do_create_visitor(rt, slug)
    principal = await authenticate_visitor_token(rt, visitor.token)
    started = await do_start_conversation(rt, principal, visitor_id=visitor.visitor_id)
    conversation = started.conversation
    return workspace.id, principal, conversation.id


async def _sent_body(rt: Runtime, principal: Principal, conversation_id: uuid.UUID) -> str:
    sent = await do_send_message(
        rt, principal, conversation_id, client_id=uuid.uuid4().hex, body=PHONE_TEXT
    )
    body: str = sent.message["body"]
    return body


async def test_a_changed_setting_applies_to_the_next_message_on_the_same_node(rt: Runtime) -> None:
    workspace_id, principal, conversation_id = await _chat(rt, "cache-one")
    assert await _sent_body(rt, principal, conversation_id) == PHONE_TEXT  # cached now

    await do_update_workspace_settings(
        rt,
        None,
        workspace_id,
        name=None,
        mfa_required_for_admins=None,
        privacy={"redact_phones": True},
    )

    assert "12 34 56 78" not in await _sent_body(rt, principal, conversation_id)


async def test_a_read_that_raced_a_change_does_not_store_the_old_settings(rt: Runtime) -> None:
    workspace_id, _principal, _conversation_id = await _chat(rt, "cache-race")
    cache = rt.privacy_cache
    async with rt.db.session() as session:
        read = asyncio.ensure_future(cache.load(session, workspace_id))
        await asyncio.sleep(0)  # the read is now waiting on the database
        cache.invalidate(workspace_id)  # a change committed meanwhile
        await read
    assert workspace_id not in cache._entries
    async with rt.db.session() as session:
        await cache.load(session, workspace_id)
    assert workspace_id in cache._entries


@pytest.mark.redis
async def test_a_change_on_one_node_reaches_the_cache_of_another(
    two_nodes: tuple[Runtime, Runtime],
) -> None:
    node_a, node_b = two_nodes
    workspace_id, principal, conversation_id = await _chat(node_a, "cache-two")
    deadline = time.monotonic() + 5
    # The first reads start node A's watcher; from then on A serves the settings from memory.
    while not node_a.privacy_cache.watching and time.monotonic() < deadline:
        assert await _sent_body(node_a, principal, conversation_id) == PHONE_TEXT
    assert await _sent_body(node_a, principal, conversation_id) == PHONE_TEXT
    assert workspace_id in node_a.privacy_cache._entries

    await do_update_workspace_settings(
        node_b,
        None,
        workspace_id,
        name=None,
        mfa_required_for_admins=None,
        privacy={"redact_phones": True},
    )

    body = await _sent_body(node_a, principal, conversation_id)
    while "12 34 56 78" in body and time.monotonic() < deadline:  # until Redis delivers
        body = await _sent_body(node_a, principal, conversation_id)
    assert "12 34 56 78" not in body
