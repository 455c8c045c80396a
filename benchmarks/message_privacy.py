"""Cost of encryption (and redaction, when on) per stored message.

Value: messages/s through the real message path (``do_send_message``: policy, sequence number,
envelope row, text sealed under the conversation's data key, event published) on SQLite.
Baseline: the same path in the same run with a keyring that stores text as-is and no
redaction, so the ratio is what privacy costs per message.
"""

from __future__ import annotations

import time
import uuid

from benchmarks.common import Result, temporary_runtime
from confide.access.workspaces import do_create_workspace
from confide.chat.conversations import do_start_conversation
from confide.chat.messages import do_send_message
from confide.chat.visitors import authenticate_visitor_token, do_create_visitor
from confide.crypto.keyring import Keyring
from confide.runtime import Runtime

MESSAGES = 600
GOAL_RATIO = 0.7
TEXT = "Hello, my order 4711 has not arrived; could you check? Card 4111 1111 1111 1111."


class PlaintextKeyring(Keyring):
    """Baseline only: the same interface, no cryptography."""

    async def encrypt(self, workspace_id, key_id, plaintext, aad):  # type: ignore[no-untyped-def,override]
        return plaintext

    async def decrypt(self, workspace_id, key_id, token, aad, *, any_workspace=False):  # type: ignore[no-untyped-def,override]
        return token


async def _rate(rt: Runtime) -> float:
    workspace = await do_create_workspace(rt, slug=f"b{uuid.uuid4().hex[:8]}", name="Bench")
    visitor = await do_create_visitor(rt, workspace.slug)
    principal = await authenticate_visitor_token(rt, visitor.token)
    conversation = await do_start_conversation(rt, principal, visitor_id=visitor.visitor_id)
    rt.settings.visitor_messages_per_minute = 10**9
    for i in range(30):  # warm-up
        await do_send_message(rt, principal, conversation.id, client_id=f"w{i}", body=TEXT)
    started = time.perf_counter()
    for i in range(MESSAGES):
        await do_send_message(rt, principal, conversation.id, client_id=f"m{i}", body=TEXT)
    return MESSAGES / (time.perf_counter() - started)


async def run() -> Result:
    async with temporary_runtime() as rt:
        value = await _rate(rt)
    async with temporary_runtime() as rt:
        plain = PlaintextKeyring(rt.keyring.provider, rt.keyring.store)
        rt.keyring = plain
        rt.vault._keyring = plain
        baseline = await _rate(rt)
    ratio = value / baseline
    return Result(
        name="message_privacy",
        value=round(value, 1),
        unit="messages/s",
        baseline=round(baseline, 1),
        baseline_name="same message path, no encryption, same run",
        ratio=round(ratio, 3),
        goal=f"privacy costs at most {round((1 - GOAL_RATIO) * 100)}% of throughput",
        goal_met=ratio >= GOAL_RATIO,
        notes=f"{MESSAGES} messages of {len(TEXT)} characters, SQLite, one conversation",
    )
