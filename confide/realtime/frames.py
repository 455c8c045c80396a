"""One JSON encoding per broker event, shared by every socket the event goes to.

Why: the broker hands the same event object to every subscribed socket of a node (the memory
broker as published, the Redis broker as decoded once per node), and each socket used to
encode it again: a conversation watched by its visitor and three consoles cost four
``json.dumps`` of the same dict. The newest encodings are kept by the event's identity (the
object itself is held, so its id cannot be reused meanwhile); events are never changed after
they are published, so an encoding stays valid. Frames built for one socket (acks, errors,
backlog pages) are encoded directly.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

RECENT_EVENTS_KEPT = 256  # far more than events in flight between sockets of one node

_recent: OrderedDict[int, tuple[dict[str, Any], str]] = OrderedDict()


def encode(frame: dict[str, Any]) -> str:
    """Compact JSON for one socket's own frame."""
    return json.dumps(frame, separators=(",", ":"))


def encode_event(event: dict[str, Any]) -> str:
    """Compact JSON for a broker event, encoded once however many sockets send it."""
    key = id(event)
    kept = _recent.get(key)
    if kept is not None and kept[0] is event:
        return kept[1]
    text = encode(event)
    _recent[key] = (event, text)
    if len(_recent) > RECENT_EVENTS_KEPT:
        _recent.popitem(last=False)
    return text
