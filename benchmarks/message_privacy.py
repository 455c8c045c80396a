"""Cost of encryption and redaction per stored message.

Value: messages/s through the real message path (``do_send_message``: policy, sequence number,
redaction of cards, IBANs, phones and e-mail addresses, envelope row, text sealed under the
conversation's data key, event published) on SQLite. Baseline: the same path in the same run
with a keyring that stores text as-is and every redaction turned off, so the ratio is what
privacy costs per message.
"""

from __future__ import annotations

import time
import uuid

from benchmarks.common import Result, temporary_runtime
from confide.access.policy import Principal
from confide.access.workspaces import do_create_workspace
from confide.chat.conversations import do_start_conversation
from confide.chat.messages import do_send_message
from confide.chat.visitors import authenticate_visitor_token, do_create_visitor
from confide.crypto.keyring import Keyring
from confide.privacy import settings as privacy_settings
from confide.runtime import Runtime

MESSAGES = 600
GOAL_RATIO = 0.7
TEXT = (
    "Hello, my order 4711 has not arrived; could you check? Card 4111 1111 1111 1111, "
    "reach me at grace@example.invalid or +33 6 12 34 56 78."
)


class PlaintextKeyring(Keyring):
    """Baseline only: the same interface, no cryptography."""

    async def encrypt(self, workspace_id, key_id, plaintext, aad):  # type: ignore[no-untyped-def,override]
        return plaintext

    async def decrypt(self, workspace_id, key_id, token, aad, *, any_workspace=False):  # type: ignore[no-untyped-def,override]
        return token


ROUNDS = 5


async def _prepare(rt: Runtime, *, redaction: bool) -> tuple[Principal, uuid.UUID]:
    workspace = await do_create_workspace(rt, slug=f"b{uuid.uuid4().hex[:8]}", name="Bench")
    async with rt.db.transaction() as session:
        await privacy_settings.apply(
            session,
            workspace.id,
            {
                kind: redaction
                for kind in ("redact_cards", "redact_ibans", "redact_phones", "redact_emails")
            },
        )
    visitor = await do_create_visitor(rt, workspace.slug)
    principal = await authenticate_visitor_token(rt, visitor.token)
    started = await do_start_conversation(rt, principal, visitor_id=visitor.visitor_id)
    conversation = started.conversation
    rt.settings.visitor_messages_per_minute = 10**9
    for i in range(30):  # warm-up: keys created and cached, statements compiled
        await do_send_message(rt, principal, conversation.id, client_id=f"w{i}", body=TEXT)
    return principal, conversation.id


async def _round(rt: Runtime, principal: Principal, conversation_id: uuid.UUID, tag: str) -> float:
    count = MESSAGES // ROUNDS
    started = time.perf_counter()
    for i in range(count):
        await do_send_message(rt, principal, conversation_id, client_id=f"{tag}{i}", body=TEXT)
    return count / (time.perf_counter() - started)


async def run(quick: bool = False) -> Result:
    # Both paths run in alternating rounds and each keeps its best round, so a burst of load
    # from elsewhere on the machine cannot favour one side.
    async with temporary_runtime() as private, temporary_runtime() as plain_rt:
        plain = PlaintextKeyring(plain_rt.keyring.provider, plain_rt.keyring.store)
        plain_rt.keyring = plain
        plain_rt.vault._keyring = plain
        sealed_setup = await _prepare(private, redaction=True)
        plain_setup = await _prepare(plain_rt, redaction=False)
        values, baselines = [], []
        for r in range(ROUNDS):
            values.append(await _round(private, *sealed_setup, f"s{r}-"))
            baselines.append(await _round(plain_rt, *plain_setup, f"p{r}-"))
    value, baseline = max(values), max(baselines)
    ratio = value / baseline
    return Result(
        name="message_privacy",
        value=round(value, 1),
        unit="messages/s",
        baseline=round(baseline, 1),
        baseline_name="same message path, no encryption, no redaction, same run",
        ratio=round(ratio, 3),
        goal=f"privacy costs at most {round((1 - GOAL_RATIO) * 100)}% of throughput",
        goal_met=ratio >= GOAL_RATIO,
        notes=f"{MESSAGES} messages of {len(TEXT)} characters, SQLite, one conversation",
    )
