"""WebSocket endpoints for the widget and the console, and the delivery contract they keep.

Protocol (JSON text frames). Client to server:
    {"type": "subscribe", "conversation_id": ..., "since": <seq>}   backlog after seq, then live
    {"type": "unsubscribe", "conversation_id": ...}
    {"type": "message", "conversation_id": ..., "client_id": ..., "body": ...}
    {"type": "typing", "conversation_id": ..., "state": true|false, "preview": "..."}
    {"type": "read", "conversation_id": ..., "seq": <seq>}
    {"type": "mirror", "conversation_id": ..., "kind": ..., ...}   (widget; see ``mirroring``)
    {"type": "cobrowse", "conversation_id": ..., "action": ..., "data": {...}}   (console only)
    {"type": "cobrowse_end", "conversation_id": ...}
    {"type": "mirror_resync", "conversation_id": ...}   (console: ask for a fresh snapshot)
    {"type": "presence", "availability": "available"|"away"}        (console only)
    {"type": "ping"}
Server to client: "ready", "subscribed", "message" (with seq), "ack" (client_id -> seq, and
the body as stored, i.e. redacted), "typing", "read", "mirror", "cobrowse", "cobrowse_end",
"consent" (a visitor's decision), "conversation" (status/assignment), "presence",
"unsubscribed" (access revoked), "error" (code, message, field, client_id), "pong".

Consent (``confide.privacy.consent``), checked against the database on every frame so a
withdrawal takes effect at once: a visitor's typing ``preview`` reaches agents only with a
current ``preview`` grant (otherwise it is stripped, and the typing hint still goes), and is
redacted like a message; ``mirror`` frames need ``mirroring``; ``cobrowse`` frames (an agent's)
need the visitor's ``cobrowsing`` grant, except the request that asks for it; ``cobrowse_end``
needs nothing: either side may end co-browsing at any time.

One loop per socket handles client frames and broker events in turn, so the backlog sent on
subscribe and the live events after it can never interleave out of order. Per conversation the
socket remembers the last seq it delivered: a live event at or below it is a duplicate and is
dropped; one beyond the next expected seq means something was missed (lagged queue, Redis
reconnect), and the gap is read from the database first. Rights are re-checked when the broker
says they changed (role, groups, sessions, grants), when a conversation's assignment or group
changes, when a grant the principal holds lapses (support access, an archive opening: checked
before every frame and event, and the loop wakes at the expiry), and every
``REVALIDATE_SECONDS`` (``confide.realtime.socket_access``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, cast

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from confide.access import grant_store
from confide.access.policy import ConversationAccess, Principal
from confide.chat import conversations, messages
from confide.chat.models import Availability
from confide.core import outages
from confide.core.errors import ConfideError, SocketClosed, ValidationFailed
from confide.realtime import failures, frames, socket_access, turns
from confide.realtime.consented import PREVIEW_MAX_CHARS, ConsentedFrames
from confide.realtime.fanout.channels import (
    conversation_channel,
    operator_channel,
    workspace_channel,
)
from confide.runtime import Runtime

log = logging.getLogger("confide.realtime")
MAX_FRAME_CHARS = 256 * 1024
MAX_SEQ = 2**62
EVENT_BATCH = 100  # broker events sent per wake-up before client frames get a turn
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
READ = ConversationAccess.READ
# Frames relayed to the other side of a conversation (never back to their author).
RELAYED = frozenset(
    {"typing", "read", "mirror", "mirror_resync", "cobrowse", "cobrowse_end", "consent"}
)


def _uuid(value: Any, field: str = "conversation_id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed(f"{field} must be a UUID.", field=field) from exc


# Every widget's ``seen``: frozen, so adding to it fails instead of sharing ids between widgets.
_NONE_SEEN = cast(set[uuid.UUID], frozenset())


class SocketSession(ConsentedFrames):
    def __init__(self, rt: Runtime, websocket: WebSocket, principal: Principal) -> None:
        self.rt = rt
        self.ws = websocket
        self.principal = principal
        self.subscription = rt.broker.subscription()
        self.delivered: dict[uuid.UUID, int] = {}
        # Conversations this console has been told about (widgets have none: 216 bytes each).
        self.seen: set[uuid.UUID] = set() if principal.kind == "operator" else _NONE_SEEN
        self.timed_out = False  # the loop's revalidation timer fired

    @property
    def is_console(self) -> bool:
        return self.principal.kind == "operator"

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_text(frames.encode(payload))

    async def send_event(self, event: dict[str, Any]) -> None:
        """A broker event as it was published: its encoding is shared with other sockets."""
        await self.ws.send_text(frames.encode_event(event))

    async def run(self) -> None:
        if self.is_console:
            assert self.principal.workspace_id and self.principal.operator_id
            await self.subscription.add(
                workspace_channel(self.principal.workspace_id),
                operator_channel(self.principal.operator_id),
            )
        await self.send({"type": "ready", "kind": self.principal.kind})
        loop = asyncio.get_running_loop()
        receive = self._receive()
        try:
            while True:
                # One future wakes the loop: an event queued, a frame received or the timer
                # (no asyncio.wait: an idle socket holds one task, one future, one timer).
                events = self.subscription.waiter()
                if not events.done() and not receive.done():
                    self.timed_out = False
                    timer = loop.call_later(
                        socket_access.wake_after(self.principal), self._time_out
                    )
                    try:
                        await events
                    finally:
                        timer.cancel()
                    if self.timed_out and not receive.done() and not self.subscription.queued:
                        await self.revalidate()
                if receive.done():
                    await self.on_frame(receive.result())
                    receive = self._receive()
                # Events already queued go out now, in order. One event per wake-up took
                # several turns of the event loop each, and a console following busy
                # conversations fell seconds behind (docs/performance.md).
                for _ in range(EVENT_BATCH):
                    queued = self.subscription.get_nowait()
                    if queued is None:
                        break
                    await self.on_event(*queued)
                if self.subscription.lagged:
                    self.subscription.lagged = False
                    await self.catch_up()
        except WebSocketDisconnect:
            pass
        except SocketClosed as closed:
            if self.ws.client_state is WebSocketState.CONNECTED:
                await self.ws.close(code=closed.code, reason=closed.reason)
        except Exception as exc:  # never a socket closed without a code
            await failures.close_after_failure(self.ws, exc)
        finally:
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
            await self.subscription.close()

    def _time_out(self) -> None:
        self.timed_out = True
        self.subscription.wake()

    def _receive(self) -> asyncio.Task[str]:
        receive = asyncio.create_task(self.ws.receive_text())
        receive.add_done_callback(self.subscription.wake)
        return receive

    # -- client frames -------------------------------------------------------------------

    async def on_frame(self, text: str) -> None:
        if grant_store.grants_lapsed(self.principal):
            await self.revalidate()
        if len(text) > MAX_FRAME_CHARS:
            raise SocketClosed(CLOSE_TOO_BIG, "frame too large")
        try:
            frame = json.loads(text)
        except ValueError:
            await self.error(ValidationFailed("Frames must be JSON objects.", field="frame"))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.error(ValidationFailed("Frames need a string 'type'.", field="type"))
            return
        handler = getattr(self, f"do_{frame['type']}", None)
        if handler is None:
            await self.error(ValidationFailed("Unknown frame type.", field="type"))
            return
        try:
            await handler(frame)
        except ConfideError as exc:
            await self.error(exc, frame.get("client_id"))
        except UnicodeError:
            # A lone surrogate from a JSON escape ("\ud83d", half of an emoji) that a check
            # did not name: still the client's mistake, never a failed socket.
            invalid = ValidationFailed("Frames must hold valid Unicode text.", field="frame")
            await self.error(invalid, frame.get("client_id"))
        except Exception as exc:
            if not outages.is_outage(exc) or frame["type"] == "subscribe":
                raise  # a socket that cannot subscribe cannot go on: error frame, 1013/1011
            # The frame was not applied (a message: not stored); the client sends it again.
            await self.error(outages.unavailable(), frame.get("client_id"))

    async def error(self, exc: ConfideError, client_id: Any = None) -> None:
        body = exc.to_body()["error"]
        await self.send({"type": "error", **body, "client_id": client_id})

    async def do_ping(self, frame: dict[str, Any]) -> None:
        await self.send({"type": "pong"})

    async def do_subscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = _uuid(frame.get("conversation_id"))
        since = frame.get("since", 0)
        if not isinstance(since, int) or not 0 <= since <= MAX_SEQ:
            raise ValidationFailed("since must be a non-negative integer.", field="since")
        # One database turn for the check, the subscription and the backlog's first page, so
        # a burst of subscribes waits here, light, not in the pool (confide.realtime.turns);
        # the backlog is sent after it.
        async with turns.of(self.rt.db):
            async with self.rt.db.session() as session:
                # Reading is enough to follow (read-only support access); writing checks WORK.
                await conversations.load_for(session, self.principal, conversation_id, access=READ)
            await self.subscription.add(conversation_channel(conversation_id))
            self.delivered[conversation_id] = since
            if self.is_console:
                self.seen.add(conversation_id)
            page = await self._backlog_page(conversation_id)
        last_seq = await self.send_backlog(conversation_id, page)
        await self.send(
            {"type": "subscribed", "conversation_id": str(conversation_id), "last_seq": last_seq}
        )

    async def do_unsubscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = _uuid(frame.get("conversation_id"))
        await self.subscription.remove(conversation_channel(conversation_id))
        self.delivered.pop(conversation_id, None)

    async def do_message(self, frame: dict[str, Any]) -> None:
        conversation_id = _uuid(frame.get("conversation_id"))
        client_id, body = frame.get("client_id"), frame.get("body")
        if not isinstance(client_id, str):
            raise ValidationFailed("client_id must be a string.", field="client_id")
        if not isinstance(body, str):
            raise ValidationFailed("body must be a string.", field="body")
        sent = await messages.do_send_message(
            self.rt, self.principal, conversation_id, client_id=client_id, body=body
        )
        await self.send(
            {
                "type": "ack",
                "client_id": client_id,
                "conversation_id": str(conversation_id),
                "seq": sent.message["seq"],
                "id": sent.message["id"],
                "body": sent.message["body"],  # as stored: redacted
                "created_at": sent.message.get("created_at"),
                "redactions": sent.message.get("redactions"),
                "duplicate": sent.duplicate,
            }
        )

    def _author(self) -> dict[str, Any]:
        if self.is_console:
            return {"kind": "operator", "id": str(self.principal.operator_id)}
        return {"kind": "visitor", "id": str(self.principal.visitor_id)}

    async def _subscribed(self, frame: dict[str, Any]) -> uuid.UUID:
        conversation_id = _uuid(frame.get("conversation_id"))
        if conversation_id not in self.delivered:
            raise ValidationFailed("Subscribe to the conversation first.", field="conversation_id")
        return conversation_id

    async def do_typing(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._subscribed(frame)
        key = f"typing:{self.principal.operator_id or self.principal.visitor_id}"
        if await self.rt.limiter.hit(key, self.rt.settings.typing_events_per_minute, 60):
            return  # typing is a hint: excess ones are dropped, not reported
        event: dict[str, Any] = {
            "type": "typing",
            "conversation_id": str(conversation_id),
            "author": self._author(),
            "state": bool(frame.get("state", True)),
        }
        preview = frame.get("preview")
        if isinstance(preview, str) and preview and not self.is_console:
            shown = await self._preview(preview[:PREVIEW_MAX_CHARS])
            if shown is not None:
                event["preview"] = shown
        await self.rt.broker.publish(conversation_channel(conversation_id), event)

    async def do_read(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._subscribed(frame)
        seq = frame.get("seq")
        if not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
            raise ValidationFailed("seq must be a non-negative integer.", field="seq")
        await self.rt.broker.publish(
            conversation_channel(conversation_id),
            {
                "type": "read",
                "conversation_id": str(conversation_id),
                "author": self._author(),
                "seq": seq,
            },
        )

    async def do_presence(self, frame: dict[str, Any]) -> None:
        if not self.is_console:
            raise ValidationFailed("Unknown frame type.", field="type")
        value = frame.get("availability")
        if value not in ("available", "away"):
            raise ValidationFailed("availability is 'available' or 'away'.", field="availability")
        result = await conversations.do_set_availability(
            self.rt, self.principal, Availability(value)
        )
        await self.send(
            {"type": "presence", "operator_id": str(self.principal.operator_id), **result}
        )

    # -- broker events -------------------------------------------------------------------

    async def on_event(self, channel: str, event: dict[str, Any]) -> None:
        if grant_store.grants_lapsed(self.principal):
            await self.revalidate()  # nothing more reaches a socket whose grant has ended
        kind = event.get("type")
        if kind == "principal_changed":
            await self.revalidate()
        elif kind == "message":
            await self.deliver_message(event)
        elif kind == "conversation":
            await self.on_conversation(channel, event)
        elif kind in RELAYED:
            if event.get("author") != self._author() and self._relay_allowed(event):
                await self.send_event(event)
        elif kind == "presence" and self.is_console:
            await self.send_event(event)

    async def deliver_message(self, event: dict[str, Any]) -> None:
        conversation_id = uuid.UUID(event["conversation_id"])
        delivered = self.delivered.get(conversation_id)
        if delivered is None or event["seq"] <= delivered:
            return
        if event["seq"] > delivered + 1:
            await self.send_backlog(conversation_id)
            if event["seq"] <= self.delivered.get(conversation_id, 0):
                return
            # Nothing stored fills the gap (the workspace keeps no transcripts): deliver live.
        await self.send_event(event)
        self.delivered[conversation_id] = event["seq"]

    async def _backlog_page(self, conversation_id: uuid.UUID) -> dict[str, Any]:
        return await messages.list_messages(
            self.rt, self.principal, conversation_id, since=self.delivered[conversation_id]
        )

    async def send_backlog(
        self, conversation_id: uuid.UUID, page: dict[str, Any] | None = None
    ) -> int:
        """Send the messages stored after the last seq delivered, page by page, each page
        read in a database turn and sent after it; ``page``: the first page, already read.
        Returns the conversation's last seq."""
        while True:
            if page is None:
                async with turns.of(self.rt.db):
                    page = await self._backlog_page(conversation_id)
            for item in page["messages"]:
                await self.send(item)
                self.delivered[conversation_id] = item["seq"]
            if not page["has_more"]:
                return int(page["last_seq"])
            page = None

    async def on_conversation(self, channel: str, event: dict[str, Any]) -> None:
        data = event["conversation"]
        conversation_id = uuid.UUID(data["id"])
        if not self.is_console:
            if channel.startswith("conv:"):
                await self.send({**event, "conversation": socket_access.widget_view(data)})
            return
        if not channel.startswith("ws:"):
            return  # consoles take lifecycle events from the workspace channel only
        if socket_access.console_may_work(self.principal, data):
            self.seen.add(conversation_id)
            await self.send_event(event)
        else:
            await self.drop(conversation_id, notify_removed=conversation_id in self.seen)

    async def drop(self, conversation_id: uuid.UUID, *, notify_removed: bool) -> None:
        if conversation_id in self.delivered:
            await self.subscription.remove(conversation_channel(conversation_id))
            self.delivered.pop(conversation_id, None)
            await self.send(
                {
                    "type": "unsubscribed",
                    "conversation_id": str(conversation_id),
                    "reason": "access_revoked",
                }
            )
        if notify_removed:
            self.seen.discard(conversation_id)
            await self.send(
                {"type": "conversation_removed", "conversation_id": str(conversation_id)}
            )

    async def revalidate(self) -> None:
        """Reload the principal (sessions, role, groups) and re-check every subscription."""
        if not self.is_console:
            return
        self.principal = await socket_access.reauthenticate(self.rt, self.principal)
        for conversation_id in list(self.delivered):
            if not await socket_access.may_read(self.rt, self.principal, conversation_id):
                await self.drop(conversation_id, notify_removed=True)

    async def catch_up(self) -> None:
        for conversation_id in list(self.delivered):
            await self.send_backlog(conversation_id)
