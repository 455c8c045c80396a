"""The per-process cache of agents' public cards (confide.chat.agent_cards) never shows a
visitor a profile older than the last change: an edited alias, an erased agent, a removed one
show in the next card on the node that made the change, and on another node as soon as the
broker delivers the invalidation."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from confide.access.models import Role
from confide.access.operators import do_remove_operator, do_update_operator
from confide.chat.routing import agent_card
from confide.privacy.erasure import do_erase_subject
from confide.runtime import Runtime
from tests.conftest import World


async def _card(rt: Runtime, operator_id: uuid.UUID) -> dict[str, Any] | None:
    async with rt.db.session() as session:
        return await agent_card(rt, session, operator_id)


async def test_an_edited_alias_shows_in_the_next_card(rt: Runtime, world: World) -> None:
    agent = await world.operator("card-alias", Role.AGENT, alias="Sam")
    first = await _card(rt, agent.id)
    assert first is not None and first["alias"] == "Sam"
    assert agent.id in rt.agent_cards._entries  # served from memory from now on
    first["alias"] = "changed by a caller"
    assert (await _card(rt, agent.id))["alias"] == "Sam"  # type: ignore[index]

    await do_update_operator(rt, None, agent.id, profile={"alias": "Samira"})

    assert (await _card(rt, agent.id))["alias"] == "Samira"  # type: ignore[index]


async def test_an_erased_agent_has_no_alias_in_the_next_card(rt: Runtime, world: World) -> None:
    agent = await world.operator("card-erased", Role.AGENT, alias="Robin Fake")
    assert (await _card(rt, agent.id))["alias"] == "Robin Fake"  # type: ignore[index]

    await do_erase_subject(rt, None, "operator", agent.id)

    card = await _card(rt, agent.id)
    assert card is None or card.get("alias") in (None, "")
    assert "Robin Fake" not in repr(card)


async def test_a_removed_agent_is_reloaded_not_served_from_memory(
    rt: Runtime, world: World
) -> None:
    agent = await world.operator("card-removed", Role.AGENT, alias="Kim")
    await _card(rt, agent.id)
    assert agent.id in rt.agent_cards._entries

    await do_remove_operator(rt, None, agent.id)

    assert agent.id not in rt.agent_cards._entries


async def test_a_load_that_raced_a_change_is_not_stored(rt: Runtime, world: World) -> None:
    agent = await world.operator("card-race", Role.AGENT, alias="Lee")
    cache = rt.agent_cards
    snapshot = cache.snapshot()
    card = {"id": str(agent.id), "alias": "Lee"}
    cache.invalidate(agent.id)  # a change committed while the load ran
    cache.store(snapshot, agent.id, card)
    assert cache.get(agent.id) == (False, None)
    cache.store(cache.snapshot(), agent.id, card)
    assert cache.get(agent.id) == (True, card)


@pytest.mark.redis
async def test_an_edit_on_one_node_reaches_the_cards_of_another(
    two_nodes: tuple[Runtime, Runtime], world: World
) -> None:
    node_a, node_b = two_nodes
    agent = await world.operator("card-two-nodes", Role.AGENT, alias="Ash")
    deadline = time.monotonic() + 5
    # The first loads start node B's watcher; from then on B serves the card from memory.
    while agent.id not in node_b.agent_cards._entries and time.monotonic() < deadline:
        assert (await _card(node_b, agent.id))["alias"] == "Ash"  # type: ignore[index]
        await asyncio.sleep(0.01)
    assert agent.id in node_b.agent_cards._entries

    await do_update_operator(node_a, None, agent.id, profile={"alias": "Ashley"})

    alias = (await _card(node_b, agent.id))["alias"]  # type: ignore[index]
    while alias == "Ash" and time.monotonic() < deadline:  # until Redis delivers
        await asyncio.sleep(0.01)
        alias = (await _card(node_b, agent.id))["alias"]  # type: ignore[index]
    assert alias == "Ashley"
