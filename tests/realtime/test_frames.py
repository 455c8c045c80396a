"""A broker event is encoded to JSON once, however many sockets of the node send it."""

from __future__ import annotations

import json

from confide.realtime import frames


def test_one_event_is_encoded_once_and_equal_events_each_their_own() -> None:
    event = {"type": "message", "seq": 7, "body": "Grüße"}
    first = frames.encode_event(event)
    assert frames.encode_event(event) is first  # the second socket reuses the text
    assert json.loads(first) == event
    twin = dict(event)
    assert frames.encode_event(twin) == first and frames.encode_event(twin) is not first


def test_only_the_newest_encodings_are_kept() -> None:
    events = [{"type": "typing", "n": i} for i in range(frames.RECENT_EVENTS_KEPT + 10)]
    for event in events:
        frames.encode_event(event)
    assert len(frames._recent) == frames.RECENT_EVENTS_KEPT
    assert id(events[-1]) in frames._recent and id(events[0]) not in frames._recent
