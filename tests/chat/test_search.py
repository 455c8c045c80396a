"""Search: words of encrypted transcripts through the keyed index, identity through the blind
index, filters, the policy scope, and what the index keeps."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from confide.access.models import Role
from confide.chat import search
from confide.chat.models import Conversation, SearchTerm
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World


async def _conversation(world: World, text: str, group: uuid.UUID, **identity: str) -> str:
    visitor = await new_visitor(world.client)
    if identity:
        await world.client.post("/api/v1/widget/identify", json=identity, headers=visitor.headers)
    started = await start_chat(world.client, visitor, text, group_id=group)
    conversation_id: str = started["conversation"]["id"]
    return conversation_id


async def test_words_identity_and_filters_find_only_what_the_operator_may_see(
    world: World,
) -> None:
    support = await world.group("Support")
    sales = await world.group("Sales")
    admin = await world.headers(await world.operator("root", Role.ADMIN))
    agent = await world.headers(await world.operator("ada", Role.AGENT, groups=[support]))
    refund = await _conversation(
        world, "I want a REFUND for order 1042, please.", support, email="vera@example.test"
    )
    shipping = await _conversation(world, "Where is my refund? Shipping was late.", support)
    hidden = await _conversation(world, "Refund for the sales team", sales)

    async def found(headers: dict[str, str], **params: str) -> list[str]:
        response = await world.client.get("/api/v1/search", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["conversations"]]

    assert set(await found(admin, q="refund")) == {refund, shipping, hidden}
    # The agent sees only the Support queue: the Sales conversation does not exist for them.
    assert set(await found(agent, q="refund")) == {refund, shipping}
    assert await found(agent, q="refund order") == [refund]  # every word must match
    assert await found(agent, q="refunds") == []  # whole words, no stemming
    assert await found(admin, email="Vera@Example.test") == [refund]  # admins only: see trial tests
    assert await found(admin, q="refund", status="closed") == []
    assert set(await found(admin, q="refund", channel="web")) == {refund, shipping, hidden}
    too_many = await world.client.get(
        "/api/v1/search", params={"q": "a1 b2 c3 d4 e5 f6 g7 h8 i9"}, headers=admin
    )
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "q"


async def test_the_index_holds_no_words_and_goes_with_its_conversation(world: World) -> None:
    support = await world.group("Support")
    conversation_id = await _conversation(world, "Secret pineapple delivery", support)
    workspace_id = await world.workspace()
    async with world.rt.db.session() as session:
        hashes = (await session.scalars(select(SearchTerm.term_hash))).all()
    assert len(hashes) == 3
    assert not any("pineapple" in h for h in hashes)
    # Another workspace hashes the same word differently.
    other = uuid.uuid4()
    assert search.term_hash(world.rt, workspace_id, "pineapple") != search.term_hash(
        world.rt, other, "pineapple"
    )
    # Erasure forgets the conversation's entries; deleting the conversation removes them too.
    async with world.rt.db.transaction() as session:
        await search.forget_conversations(session, [uuid.UUID(conversation_id)])
    async with world.rt.db.session() as session:
        assert (await session.scalars(select(SearchTerm))).all() == []
    second = await _conversation(world, "Another pineapple", support)
    async with world.rt.db.transaction() as session:
        row = await session.get(Conversation, uuid.UUID(second))
        await session.delete(row)
    async with world.rt.db.session() as session:
        assert (await session.scalars(select(SearchTerm))).all() == []
