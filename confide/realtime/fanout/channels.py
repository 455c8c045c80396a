"""Names of the broker channels (see confide/chat/events.py for what travels on them)."""

from __future__ import annotations

import uuid


def conversation_channel(conversation_id: uuid.UUID | str) -> str:
    return f"conv:{conversation_id}"


def workspace_channel(workspace_id: uuid.UUID | str) -> str:
    return f"ws:{workspace_id}"


def operator_channel(operator_id: uuid.UUID | str) -> str:
    return f"op:{operator_id}"


PRINCIPAL_CHANGED = {"type": "principal_changed"}
# Node-level: every node drops its cached copy of a workspace's privacy settings.
PRIVACY_SETTINGS_CHANNEL = "privacy-settings"
# Node-level: every node drops its cached copies of destroyed data keys (erasure).
KEYS_CHANNEL = "keys-destroyed"
