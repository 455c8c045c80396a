"""Page mirroring and co-browsing on the relay: what passes, what is refused, what is kept.

Each frame is rebuilt from an allow-list and redacted, checked against the visitor's consent
and the workspace's setting on every frame, size- and rate-limited, and never stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from confide.access.models import Role
from confide.core.errors import ValidationFailed
from confide.models import metadata
from confide.privacy import redaction
from confide.privacy.redaction_accuracy import load_corpus
from confide.realtime import mirroring
from confide.runtime import Runtime
from tests.chat.helpers import Socket, agent_token, new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World
from tests.privacy.helpers import (
    admin_headers,
    count_rows,
    decide,
    every_row_as_text,
    publish,
    set_privacy,
)

MIRROR_TEXT = "Let our agents see the page you are on?"
COBROWSE_TEXT = "Let an agent guide you on this page? You can stop at any time."
SHOP = "https://shop.example"
PAGE = {"url": f"{SHOP}/checkout?coupon=ANNA-2026#pay", "title": "Checkout"}


def _snapshot(*children: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "snapshot",
        **PAGE,
        "viewport": {"w": 1280, "h": 800},
        "tree": {"i": 1, "t": "body", "a": {}, "c": list(children)},
    }


async def _pair(
    world: World, client: httpx.AsyncClient, server: LiveServer
) -> tuple[Socket, Socket, Any, str, dict[str, str]]:
    admin = await admin_headers(world)
    support = await world.group("Support")
    account = await world.operator("alice", Role.AGENT, groups=[support])
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None, group_id=support)
    conversation_id = chat["conversation"]["id"]
    agent = await open_socket(
        f"{server.ws_url}/api/v1/ws/console", token=await agent_token(world, account)
    )
    guest = await open_socket(f"{server.ws_url}/api/v1/ws/widget", token=visitor.token, origin=SHOP)
    for socket in (agent, guest):
        await socket.send(type="subscribe", conversation_id=conversation_id, since=0)
        await socket.recv_until(lambda f: f["type"] == "subscribed")
    await publish(client, admin, "mirroring", MIRROR_TEXT)
    await publish(client, admin, "cobrowsing", COBROWSE_TEXT)
    return agent, guest, visitor, conversation_id, admin


async def _frames_until(socket: Socket, kind: str) -> list[dict[str, Any]]:
    """Every frame up to and including the first of type ``kind`` (a positive event)."""
    frames = []
    while not frames or frames[-1]["type"] != kind:
        frames.append(await socket.recv())
    return frames


async def _all_rows(rt: Runtime) -> dict[str, int]:
    return {name: await count_rows(rt, name) for name in metadata.tables}


# -- the rebuilt frame (no server needed) --------------------------------------------------------


def test_a_snapshot_keeps_only_allowed_tags_and_attributes_and_redacts_text() -> None:
    frame = _snapshot(
        {"i": 2, "t": "script", "a": {}, "c": [{"i": 3, "x": "steal()"}]},
        {
            "i": 4,
            "t": "a",
            "a": {"href": "javascript:steal()", "onclick": "steal()", "class": "cta"},
            "c": [{"i": 5, "x": "Card 4111 1111 1111 1111 on file"}],
        },
        {"i": 6, "t": "input", "a": {"value": "typed", "type": "text", "style": "x"}, "c": []},
        {"i": 7, "p": "password", "w": 120, "h": 24},
        {"i": 8, "t": "iframe", "a": {"src": "https://evil.example"}, "c": []},
    )
    cleaned = mirroring.clean_frame(redaction.RedactionPolicy(), frame)
    assert cleaned["url"] == f"{SHOP}/checkout"  # no query string, no fragment
    assert cleaned["tree"]["c"] == [
        {
            "i": 4,
            "t": "a",
            "a": {"class": "cta"},
            "c": [{"i": 5, "x": "Card [redacted card] on file"}],
        },
        {"i": 6, "t": "input", "a": {"type": "text"}, "c": []},
        {"i": 7, "p": "password", "w": 120, "h": 24},
    ]


def test_diffs_are_redacted_like_snapshots() -> None:
    ops = [
        {"op": "text", "id": 3, "text": "IBAN DE89370400440532013000"},
        {"op": "attr", "id": 4, "name": "title", "value": "Card 4111 1111 1111 1111"},
        {"op": "attr", "id": 4, "name": "onclick", "value": "steal()"},
        {"op": "add", "parent": 1, "before": None, "node": {"i": 9, "x": "4111111111111111"}},
    ]
    cleaned = mirroring.clean_frame(redaction.RedactionPolicy(), {"kind": "diff", "ops": ops})
    assert cleaned["ops"] == [
        {"op": "text", "id": 3, "text": "IBAN [redacted iban]"},
        {"op": "attr", "id": 4, "name": "title", "value": "Card [redacted card]"},
        {"op": "noop"},
        {"op": "add", "parent": 1, "before": None, "node": {"i": 9, "x": "[redacted card]"}},
    ]


def test_texts_redacted_together_are_masked_as_one_by_one() -> None:
    corpus = [line.text for line in load_corpus().lines]
    policy = redaction.RedactionPolicy(phones=True, emails=True, phone_regions=("GB", "FR"))
    assert redaction.redact_many(policy, corpus) == [
        redaction.redact(policy, text).text for text in corpus
    ]
    # A custom pattern that spans texts: each is then redacted on its own.
    pattern = r"secret[\s\S]*"
    spanning = redaction.RedactionPolicy(patterns=(pattern,), _compiled=(re.compile(pattern),))
    assert redaction.redact_many(spanning, ["a secret", "plain"]) == [
        "a [redacted custom]",
        "plain",
    ]


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"kind": "video"}, "kind"),
        ({"kind": "scroll", "x": -1}, "x"),
        ({"kind": "diff", "ops": []}, "ops"),
        ({"kind": "diff", "ops": [{"op": "rewrite", "id": 1}]}, "ops"),
        ({**_snapshot(), "tree": {"i": 1, "t": "<body>"}}, "tree"),
        ({**_snapshot(), "url": "javascript:alert(1)"}, "url"),
        ({**_snapshot({"i": 0, "x": "no id"})}, "tree"),
        ({**_snapshot({"i": 2, "p": "secret-kind"})}, "tree"),
    ],
)
def test_malformed_frames_are_refused_naming_the_field(frame: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        mirroring.clean_frame(redaction.RedactionPolicy(), frame)
    assert refused.value.field == field


def test_a_page_too_large_or_too_deep_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirroring, "MAX_NODES", 5)
    wide = _snapshot(*({"i": i, "x": "row"} for i in range(2, 10)))
    with pytest.raises(ValidationFailed, match="limited to 5 nodes"):
        mirroring.clean_frame(redaction.RedactionPolicy(), wide)
    monkeypatch.setattr(mirroring, "MAX_NODES", 20_000)
    node: dict[str, Any] = {"i": 2, "x": "deep"}
    for depth in range(mirroring.MAX_DEPTH + 2):
        node = {"i": 1000 + depth, "t": "div", "c": [node]}
    with pytest.raises(ValidationFailed, match="deep"):
        mirroring.clean_frame(redaction.RedactionPolicy(), _snapshot(node))


# -- on the live relay ---------------------------------------------------------------------------


async def test_frames_pass_only_while_mirroring_is_granted_checked_on_every_frame(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    agent, guest, visitor, conversation_id, _ = await _pair(world, client, live_server)
    await guest.send(type="mirror", conversation_id=conversation_id, **_snapshot())
    refused = await guest.recv_until(lambda f: f["type"] == "error")
    assert (refused["code"], refused["field"]) == ("consent_required", "mirroring")

    await decide(client, visitor, "mirroring", MIRROR_TEXT)
    page = _snapshot(
        {"i": 2, "t": "p", "a": {}, "c": [{"i": 3, "x": "IBAN DE89370400440532013000"}]}
    )
    await guest.send(type="mirror", conversation_id=conversation_id, **page)
    snapshot = await agent.recv_until(lambda f: f["type"] == "mirror")
    assert snapshot["kind"] == "snapshot" and snapshot["author"]["kind"] == "visitor"
    assert snapshot["tree"]["c"][0]["c"][0]["x"] == "IBAN [redacted iban]"

    await decide(client, visitor, "mirroring", MIRROR_TEXT, "withdrawn")
    await guest.send(type="mirror", conversation_id=conversation_id, kind="scroll", x=0, y=90)
    refused = await guest.recv_until(lambda f: f["type"] == "error")
    assert refused["code"] == "consent_required"
    # Then a positive event on the same channel: nothing mirrored came before it.
    await guest.send(type="typing", conversation_id=conversation_id, state=True)
    assert [f["type"] for f in await _frames_until(agent, "typing") if f["type"] == "mirror"] == []
    await agent.close()
    await guest.close()


async def test_nothing_of_a_mirrored_page_is_stored(
    world: World, client: httpx.AsyncClient, live_server: LiveServer, rt: Runtime
) -> None:
    agent, guest, visitor, conversation_id, _ = await _pair(world, client, live_server)
    await decide(client, visitor, "mirroring", MIRROR_TEXT)
    before = await _all_rows(rt)
    text = "Order ZX-PAGE-TEXT-5521 for Anna Example"
    await guest.send(
        type="mirror",
        conversation_id=conversation_id,
        **_snapshot({"i": 2, "t": "p", "a": {}, "c": [{"i": 3, "x": text}]}),
    )
    await guest.send(
        type="mirror",
        conversation_id=conversation_id,
        kind="diff",
        ops=[{"op": "text", "id": 3, "text": text + " (paid)"}],
    )
    relayed = [await agent.recv_until(lambda f: f["type"] == "mirror") for _ in range(2)]
    assert [f["kind"] for f in relayed] == ["snapshot", "diff"]
    assert await _all_rows(rt) == before
    assert "ZX-PAGE-TEXT-5521" not in await every_row_as_text(rt)
    await agent.close()
    await guest.close()


async def test_mirror_frames_are_rate_limited_per_visitor(
    world: World,
    client: httpx.AsyncClient,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mirroring, "MIRROR_FRAMES_PER_MINUTE", 2)
    agent, guest, visitor, conversation_id, _ = await _pair(world, client, live_server)
    await decide(client, visitor, "mirroring", MIRROR_TEXT)
    for y in (10, 20, 30, 40, 50):  # a minute boundary may reset the count once, not twice
        await guest.send(type="mirror", conversation_id=conversation_id, kind="scroll", y=y)
    limited = await guest.recv_until(lambda f: f["type"] == "error")
    assert (limited["code"], limited["field"]) == ("rate_limited", "frame")
    first, second = [await agent.recv_until(lambda f: f["type"] == "mirror") for _ in range(2)]
    assert (first["y"], second["y"]) == (10, 20)
    await agent.close()
    await guest.close()


async def test_a_workspace_that_turns_mirroring_off_refuses_both_mirroring_and_cobrowsing(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    agent, guest, visitor, conversation_id, admin = await _pair(world, client, live_server)
    await decide(client, visitor, "mirroring", MIRROR_TEXT)
    await decide(client, visitor, "cobrowsing", COBROWSE_TEXT)
    settings = await set_privacy(client, admin, mirroring_enabled=False)
    assert settings["mirroring_enabled"] is False
    config = (await client.get("/api/v1/widget/acme/config")).json()
    assert config["mirroring_enabled"] is False

    await guest.send(type="mirror", conversation_id=conversation_id, **_snapshot())
    refused = await guest.recv_until(lambda f: f["type"] == "error")
    assert (refused["code"], refused["field"]) == ("mirroring_disabled", "mirroring_enabled")
    await agent.send(type="cobrowse", conversation_id=conversation_id, action="request")
    refused = await agent.recv_until(lambda f: f["type"] == "error")
    assert refused["code"] == "mirroring_disabled"

    await set_privacy(client, admin, mirroring_enabled=True)
    await guest.send(type="mirror", conversation_id=conversation_id, **_snapshot())
    assert (await agent.recv_until(lambda f: f["type"] == "mirror"))["kind"] == "snapshot"
    await agent.close()
    await guest.close()


async def test_an_agent_asks_without_a_grant_acts_only_with_one_and_navigates_on_site_only(
    world: World, client: httpx.AsyncClient, live_server: LiveServer, rt: Runtime
) -> None:
    agent, guest, visitor, conversation_id, admin = await _pair(world, client, live_server)
    # Asking needs no grant: it only makes the widget show the visitor's own prompt.
    await agent.send(type="cobrowse", conversation_id=conversation_id, action="request")
    asked = await guest.recv_until(lambda f: f["type"] == "cobrowse")
    assert (asked["action"], asked["data"]) == ("request", {})
    await agent.send(
        type="cobrowse", conversation_id=conversation_id, action="highlight", data={"node": 4}
    )
    refused = await agent.recv_until(lambda f: f["type"] == "error")
    assert (refused["code"], refused["field"]) == ("consent_required", "cobrowsing")
    # Only agents guide: a widget cannot send co-browsing actions.
    await guest.send(type="cobrowse", conversation_id=conversation_id, action="request")
    assert (await guest.recv_until(lambda f: f["type"] == "error"))["field"] == "type"

    answered = await decide(
        client, visitor, "cobrowsing", COBROWSE_TEXT, conversation_id=conversation_id
    )
    assert answered.status_code == 201
    await agent.send(
        type="cobrowse", conversation_id=conversation_id, action="highlight", data={"node": "#x"}
    )
    assert (await agent.recv_until(lambda f: f["type"] == "error"))["field"] == "data.node"
    away = {"url": "https://elsewhere.example/phish"}
    here = {"url": f"{SHOP}/delivery"}
    for data in (away, here):
        await agent.send(
            type="cobrowse", conversation_id=conversation_id, action="navigate", data=data
        )
    # The address off the visitor's site never reaches the widget; the one on it does.
    navigation = await guest.recv_until(lambda f: f["type"] == "cobrowse")
    assert (navigation["action"], navigation["data"]) == ("navigate", here)

    await decide(
        client, visitor, "cobrowsing", COBROWSE_TEXT, "withdrawn", conversation_id=conversation_id
    )
    audit = (await client.get("/api/v1/audit", headers=admin)).json()
    actions = [e["action"] for e in audit["events"] if e["action"].startswith("cobrowse.")]
    assert sorted(actions) == ["cobrowse.start", "cobrowse.stop"]
    assert json.dumps(audit).count(f"conversation:{conversation_id}") >= 2
    await agent.close()
    await guest.close()


async def test_an_agent_who_arrives_late_asks_for_a_whole_copy_only_while_it_is_shared(
    world: World, client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    agent, guest, visitor, conversation_id, _ = await _pair(world, client, live_server)
    await agent.send(type="mirror_resync", conversation_id=conversation_id)
    refused = await agent.recv_until(lambda f: f["type"] == "error")
    assert (refused["code"], refused["field"]) == ("consent_required", "mirroring")
    await decide(client, visitor, "mirroring", MIRROR_TEXT)
    await agent.send(type="mirror_resync", conversation_id=conversation_id)
    asked = await guest.recv_until(lambda f: f["type"] == "mirror_resync")
    assert asked["author"]["kind"] == "operator"
    await guest.send(type="mirror_resync", conversation_id=conversation_id)
    assert (await guest.recv_until(lambda f: f["type"] == "error"))["field"] == "type"
    await agent.close()
    await guest.close()
