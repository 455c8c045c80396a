"""``quick_event_hash`` writes the canonical JSON itself (a backup verify walks every record):
it must hash exactly the bytes ``event_hash`` hashes, for awkward values too."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from confide.audit.chain import event_hash, quick_event_hash

AWKWARD = ["", 'quo"te', "back\\slash", "é ü €", "\u2028 \x00 \x1f \x7f", "😀", "a/b", "\n\t"]


def _event(rng: random.Random, **overrides: Any) -> Any:
    def text() -> str | None:
        return rng.choice([None, *AWKWARD, "".join(rng.choice(AWKWARD) for _ in range(3))])

    values: dict[str, Any] = {
        "id": rng.choice([uuid.uuid4(), str(uuid.uuid4())]),
        "workspace_id": rng.choice([None, uuid.uuid4(), str(uuid.uuid4())]),
        "seq": rng.randint(1, 2**62),
        "at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 10**13)),
        "actor_kind": text() or "operator",
        "actor_id": rng.choice([None, uuid.uuid4()]),
        "action": text() or "conversation.read",
        "subject_id": rng.choice([None, str(uuid.uuid4())]),
        "subject_ids": text(),
        "resource": text(),
        "source": text() or "local",
        "details_encrypted": text(),
        "prev_hash": "0" * 64,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_quick_hash_is_event_hash_for_awkward_values() -> None:
    rng = random.Random(19)
    for _ in range(2000):
        event = _event(rng)
        assert quick_event_hash(event) == event_hash(event), event


def test_quick_hash_leaves_unusual_values_to_event_hash() -> None:
    rng = random.Random(7)
    east = timezone(timedelta(hours=2))
    for overrides in (
        {"at": datetime(2026, 5, 1, 3, tzinfo=east)},  # not UTC: written as UTC by both
        {"subject_ids": ["a", "b"]},  # not text
        {"seq": True},  # a bool is not an int to json
        {"resource": 5},
    ):
        event = _event(rng, **overrides)
        assert quick_event_hash(event) == event_hash(event), overrides
