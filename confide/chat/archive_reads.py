"""Opening an archived conversation's keys for the one read the policy allowed.

Why: archiving re-wraps a conversation's data key under the workspace's archive key and moves
it out of the live key table (``Keyring.archive_keys``); it opens only inside
``keyring.archive_access()``. The policy lets an archived conversation through ``load_for``
only for a live archive-custodian grant (``confide.access.grants.grant_reach``), so the read
paths enter that context exactly when the conversation they loaded is archived, around the
decryption alone: nothing else in the request, and no other task, can open archived keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

from confide.chat.models import Conversation, ConversationLifecycle

if TYPE_CHECKING:
    from confide.runtime import Runtime


@contextmanager
def archive_opened(rt: Runtime, conversation: Conversation) -> Iterator[None]:
    """Inside: the keys of ``conversation`` open if it is archived (call only after
    ``load_for`` admitted the principal); for an active conversation, nothing changes."""
    archived = conversation.lifecycle is ConversationLifecycle.ARCHIVED
    with rt.keyring.archive_access() if archived else nullcontext():
        yield
